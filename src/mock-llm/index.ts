// Mock Anthropic Messages API: a real HTTP server for tests, demos and benchmarks.
// Point ANTHROPIC_BASE_URL at `mock.url`.
export { createBugfixRepo } from './fixtures.ts';
export {
  byMarker,
  failFirst,
  findMarker,
  lastToolResults,
  scripted,
  streamingText,
  textReply,
  toolCall,
  turnIndex,
} from './helpers.ts';
export {
  bugfixScenario,
  bugfixScenarioClaudeCode,
  bugfixScenarioNative,
  claudeCodeSideReply,
  echoScenario,
  isClaudeCodeSideRequest,
  toolUseCount,
  workingDirectoryOf,
} from './scenarios.ts';
export { estimateTokens, startMockLlm } from './server.ts';
export type {
  MessagesRequest,
  MockBlock,
  MockError,
  MockLlm,
  MockLlmOptions,
  MockReply,
  MockTurn,
  RecordedRequest,
  RequestInfo,
  Responder,
} from './types.ts';
