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

/** A tool call as the approval gate sees it: the engine's own tool name and input. */
export interface GatedToolCall {
  toolUseId: string;
  name: string;
  input: unknown;
}

/** Whether a gated call may run; `message` is the tool error the model gets when it may not. */
export type ApprovalVerdict = { allow: true } | { allow: false; message: string };

/**
 * Stops the tool calls a session's policy names until someone decides (docs/api.md §10). The runs
 * layer implements it (recording, announcing, waiting); engines call `check` before a tool runs —
 * for every call: the gate knows which ones to stop (agent/approval-rules.ts).
 */
export interface ApprovalGate {
  /** Resolves when the call may run, or is denied. Never hangs: a timeout and the run's abort end the wait. */
  check(call: GatedToolCall): Promise<ApprovalVerdict>;
  /** The longest a call can wait (ms): engines whose own machinery times out waits (Claude Code hooks) allow for it. */
  readonly timeoutMs: number;
}

/** Tokens of one model request, as the API reported them. */
export interface ModelCallUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens?: number;
  cacheCreationInputTokens?: number;
}

/** How one model request ended (for metrics and the GenAI span). */
export interface ModelCallEnd {
  usage?: ModelCallUsage;
  /** The API's stop reason (`end_turn`, `tool_use`, `max_tokens`, …). */
  finishReason?: string;
  responseModel?: string;
  responseId?: string;
  /** Set when the request failed (an error class or code, never a secret). */
  error?: string;
}

/** One model request in flight. */
export interface ModelCall {
  /** The first streamed token (any content delta) arrived. */
  firstToken(): void;
  end(result: ModelCallEnd): void;
}

/**
 * What an engine tells about its model requests: metrics (latency, time to first token) and trace
 * spans (GenAI conventions). Optional; engines call it when present and never depend on it.
 */
export interface ModelCallObserver {
  /** A request is sent now, or was at `startedAt` (epoch ms) when the engine learns of it late. */
  start(info: { model: string; startedAt?: number }): ModelCall;
}

/**
 * Told the run's model usage as it streams, increment by increment (not only the total at the
 * end), so that the server's budgets can stop the run within the turn that passes them.
 */
export interface UsageMeter {
  /** Adds usage (tokens and their cost) the model reported since the last call. */
  add(usage: Usage): void;
}

/**
 * A warm engine process set aside for one run (the claude-code engine's spares): taken before the
 * run's workspace is prepared, because the process already lives in a workspace of its own — the
 * *slot* the session is then placed in (src/sandbox/workspace/manager.ts `place`).
 */
export interface SpareTicket {
  /** The slot (workspace/home pair) the process was started in. */
  readonly slotName: string;
  /** Gives the process up unless a run claimed it (a run that failed before its engine started). */
  close(): void;
}

/** What decides whether a spare fits a run, known before its workspace is prepared. */
export interface SpareRequest {
  sessionId: string;
  model: string;
  /** The session clones a repository into its workspace (else the workspace starts empty). */
  repo: boolean;
  /** The session's own system prompt, if any. */
  systemPrompt?: string;
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
  /** Present when the session's policy asks for approvals: every tool call goes through it first. */
  approvals?: ApprovalGate;
  /**
   * A directory only the server writes (never bound into a sandbox) for the engine's own records
   * about the session. Anything kept under the workspace or HOME is the agent's to replace.
   */
  stateDir?: string;
  /** Told of every model request (metrics, traces). */
  observer?: ModelCallObserver;
  /** A warm process taken for this run (`Engine.takeSpare`); the run's workspace is its slot. */
  spare?: SpareTicket;
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
  /**
   * A warm process for a new session's first run, if one fits; its slot becomes the session's
   * workspace. Only asked for a session without a workspace on this instance.
   */
  takeSpare?(req: SpareRequest): SpareTicket | undefined;
  /** Loads what the first run would otherwise load, and starts what is kept warm (after the server listens). */
  warm?(): Promise<void>;
  close?(): Promise<void>;
}
