// The engine boundary. An engine turns one run (history + new user message) into events and a
// result; `native` (in-process loop on @anthropic-ai/sdk) and `claude-code` (Claude Agent SDK)
// both implement it, so the scheduler and clients cannot tell them apart except by capability.
import type { EngineName, NewEvent, RunFailureCode, Usage } from '../protocol/index.ts';
import type { RunScope } from '../tools/run-scope.ts';
import type { Tool } from '../tools/types.ts';

/** Events an engine may emit; run lifecycle events are the scheduler's. */
export type EngineEvent = Extract<
  NewEvent,
  {
    type:
      | 'text.delta'
      | 'message.assistant'
      | 'tool.started'
      | 'tool.output'
      | 'tool.completed'
      | 'session.notice';
  }
>;

/**
 * One turn of the session's conversation as an engine reads and returns it: the text a person
 * sees and, when the engine kept it, its own content blocks (tool_use/tool_result) for a faithful
 * history. The store keeps these as its message records; engines do not know the store.
 */
export interface ConversationTurn {
  role: 'user' | 'assistant';
  text: string;
  content?: unknown;
}

/**
 * Told the run's model usage as it streams, increment by increment (not only the total at the
 * end), so that the server's budgets can stop the run within the turn that passes them.
 */
export interface UsageMeter {
  /** Adds usage (tokens and their cost) the model reported since the last call. */
  add(usage: Usage): void;
}

export interface EngineRunContext {
  runId: string;
  sessionId: string;
  model: string;
  systemPrompt?: string;
  /** Earlier turns of the session, oldest first (not including `input`). */
  history: ConversationTurn[];
  input: string;
  workspace: string;
  tools: Tool[];
  /** Engine-private state saved from the previous run of this session (e.g. SDK session id). */
  engineState: Record<string, unknown>;
  /** Environment for processes the engine starts (allowlisted). */
  env: Record<string, string>;
  signal: AbortSignal;
  emit(event: EngineEvent): void;
  /** Where the engine reports usage as it streams (budgets); absent: nobody is metering. */
  meter?: UsageMeter;
  /** Resources tools keep for this run; closed by the executor when the run ends. */
  scope?: RunScope;
  /** The session's repository URL, passed to tools (local-remote policy). */
  origin?: string;
  /**
   * A directory only the server writes (never bound into a sandbox) for the engine's own records
   * about the session. Anything kept under the workspace or HOME is the agent's to replace.
   */
  stateDir?: string;
}

export interface EngineResult {
  stopReason: string;
  usage: Usage;
  finalText: string;
  /** Assistant/user messages to persist for the next run's history (engine-format content allowed). */
  messages: ConversationTurn[];
  engineState?: Record<string, unknown>;
  /** Tool `meta` collected during the run (commits, PR urls) for workflow results. */
  toolMeta: Array<Record<string, unknown>>;
}

/** A failure with a stable code for `run.failed` (e.g. `missing_api_key`, `llm_error`). */
export class EngineError extends Error {
  readonly code: RunFailureCode;
  /** Tokens spent before the failure, so they are still accounted. */
  readonly usage?: Usage;
  /**
   * The conversation turns the run produced before it stopped (an interrupt keeps them in the
   * history). Valid for the next run as they are: no tool_use without its tool_result.
   */
  messages?: ConversationTurn[];
  constructor(code: RunFailureCode, message: string, usage?: Usage, messages?: ConversationTurn[]) {
    super(message);
    this.code = code;
    this.usage = usage;
    if (messages) this.messages = messages;
    this.name = 'EngineError';
  }
}

export interface Engine {
  readonly name: EngineName;
  run(ctx: EngineRunContext): Promise<EngineResult>;
  close?(): Promise<void>;
}
