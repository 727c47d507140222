/** Public types of the mock Anthropic Messages API (see ./index.ts). */

export type MockBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id?: string; name: string; input: unknown }
  | { type: 'thinking'; thinking: string };

export interface MockReply {
  kind: 'reply';
  blocks: MockBlock[];
  /** default: 'tool_use' if any tool_use block else 'end_turn' */
  stopReason?: 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence';
  /** defaults: estimated from the request / response size (≈ chars / 4) */
  usage?: { inputTokens?: number; outputTokens?: number };
  /** characters per text_delta / thinking_delta / input_json_delta (default 16 for text, 20 for JSON) */
  chunkSize?: number;
  /** delay between deltas in ms (default 0) — the streaming rate, for benchmarks; ignored when not streaming */
  deltaDelayMs?: number;
  /**
   * Streaming: send `event: error` after the first content block and end the stream (no message_stop).
   * Non-streaming requests get the HTTP equivalent instead (529 overloaded_error / 500 api_error).
   */
  midStreamError?: 'overloaded_error' | 'api_error';
}

export interface MockError {
  kind: 'error';
  status: number;
  /** e.g. rate_limit_error, overloaded_error, api_error, invalid_request_error, authentication_error */
  type: string;
  message?: string;
  /** sent as `retry-after` (seconds, may be fractional) and `retry-after-ms` headers */
  retryAfterS?: number;
}

export type MockTurn = MockReply | MockError;

export interface MessagesRequest {
  model: string;
  messages: Array<{ role: 'user' | 'assistant'; content: string | Array<Record<string, unknown>> }>;
  system?: unknown;
  tools?: Array<Record<string, unknown>>;
  max_tokens: number;
  stream?: boolean;
  [k: string]: unknown;
}

export interface RequestInfo {
  /** the same index as the RecordedRequest of this HTTP request (0-based, counts every request received) */
  index: number;
  headers: Record<string, string | string[] | undefined>;
}

export type Responder = (req: MessagesRequest, info: RequestInfo) => MockTurn | Promise<MockTurn>;

export interface RecordedRequest {
  /** 0-based, counts every HTTP request the mock received (all paths) */
  index: number;
  /** URL path without the query string, e.g. `/v1/messages` (Claude Code sends `/v1/messages?beta=true`) */
  path: string;
  /** additive: HTTP method */
  method: string;
  /** additive: the raw request target, query string included */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** parsed JSON body; the raw string when it is not JSON; undefined when empty */
  body: unknown;
  /** Date.now() when the request arrived */
  receivedAt: number;
}

export interface MockLlm {
  /** e.g. http://127.0.0.1:41234 (no trailing slash) — use as ANTHROPIC_BASE_URL */
  url: string;
  port: number;
  /** every request received (at most `maxRecorded`, oldest dropped first) */
  requests: RecordedRequest[];
  setResponder(r: Responder): void;
  /** called for every request once its body is read; returns unsubscribe */
  onRequest(listener: (r: RecordedRequest) => void): () => void;
  close(): Promise<void>;
}

export interface MockLlmOptions {
  /** default 0 (a free port) */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** default: every request gets a text reply "done" */
  responder?: Responder;
  /** when set, `x-api-key` or `Authorization: Bearer` must equal it, else 401 authentication_error */
  requireApiKey?: string;
  /** default 10_000 */
  maxRecorded?: number;
}
