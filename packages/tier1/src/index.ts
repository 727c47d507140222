// @duyetbot/tier1: what a Tier 1 bot (a Cloudflare Worker) needs to hand work to the agent server.
// fetch and Web Crypto only: no Node built-ins, no dependencies, no nodejs_compat.
export {
  type CallbackFailure,
  type CallbackMessage,
  type DeliveryStore,
  type HandleCallbackOptions,
  type HandleOutcome,
  handleCallback,
  MemoryDeliveryStore,
  MemoryNonceStore,
  type NonceStore,
  type VerifiedCallback,
  type VerifyCallbackOptions,
  type VerifyCallbackResult,
  verifyCallback,
} from './callbacks.ts';
export {
  AgentApiError,
  AgentClient,
  type AgentClientOptions,
  type FollowOptions,
  type ListWorkflowsQuery,
} from './client.ts';
export {
  COMPLEXITY_THRESHOLD,
  complexityScore,
  type EscalationContext,
  type EscalationDecision,
  type EscalationRule,
  extractRepo,
  shouldEscalate,
  workflowTypeOf,
} from './escalate.ts';
export {
  CALLBACK_PREFIX,
  hmacSha256Hex,
  NONCE_RE,
  type RawBody,
  randomNonce,
  SIGNATURE_WINDOW_S,
  type SignatureParts,
  type SignedHeaders,
  signCallback,
  signedCallbackHeaders,
  signedRequestHeaders,
  signRequest,
  type VerifyFailure,
  type VerifyParts,
  type VerifyResult,
  verifyCallbackSignature,
  verifyHmacSha256,
  verifyRequestSignature,
} from './signing.ts';
export { parseSse, type SseMessage } from './sse.ts';
export * from './types.ts';
