// Claude Agent SDK messages → the server's events, the messages persisted for the session's
// history, and the run's outcome. Pure bookkeeping: no I/O besides `emit`.
import type {
  ModelUsage,
  SDKAssistantMessageError,
  SDKMessage,
  SDKResultMessage,
} from '@anthropic-ai/claude-agent-sdk';
import type { Usage } from '../../protocol/index.ts';
import type { ConversationTurn, ModelCall, ModelCallObserver, ModelCallUsage } from '../engine.ts';
import { EngineError, type EngineEvent, type EngineResult } from '../engine.ts';
import { contentText } from '../history.ts';
import { capOutput } from '../native/tools.ts';
import { costUsd, type TokenUsage } from '../pricing.ts';

export type PersistedMessage = EngineResult['messages'][number];

type Block = Record<string, unknown>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Text of a tool_result's content (string or blocks); images and other blocks become placeholders. */
export function flattenToolResult(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content))
    return content === undefined || content === null ? '' : JSON.stringify(content);
  const parts: string[] = [];
  for (const b of content) {
    if (typeof b === 'string') parts.push(b);
    else if (isRecord(b) && b.type === 'text' && typeof b.text === 'string') parts.push(b.text);
    else if (isRecord(b) && typeof b.type === 'string') parts.push(`[${b.type}]`);
  }
  return parts.join('\n');
}

export interface AuthFailure {
  status: number | null;
  error: string;
}

export interface MapperOptions {
  emit: (e: EngineEvent) => void;
  /** Cap of tool outputs in events and persisted results (config.toolOutputLimit). */
  outputLimit: number;
  now?: () => number;
  /** Told of each model request of the main loop (metrics, traces). */
  observer?: ModelCallObserver;
}

/** Consumes the SDK message stream of one run. */
export class RunMapper {
  /** Claude Code's session id (system/init), for `resume`. */
  claudeSessionId: string | undefined;
  result: SDKResultMessage | undefined;
  /** The text and kind of a synthetic "API Error: …" assistant message, when one arrived. */
  apiError: { kind: SDKAssistantMessageError | undefined; text: string } | undefined;
  /** Set when Claude Code is retrying a request the API refused for its credentials. */
  authFailure: AuthFailure | undefined;
  /** Whether the model produced anything in this run (for the resume fallback). */
  assistantOutput = false;
  lastAssistantText = '';
  readonly messages: PersistedMessage[] = [];

  private readonly opts: MapperOptions;
  private readonly now: () => number;
  private readonly tools = new Map<string, { name: string; startedAt: number; done: boolean }>();
  private assistantId: string | undefined;
  /**
   * Claude Code does not say when it sends a request; the stream shows its answer (message_start).
   * The request went out after the previous answer ended or the last tool result came back (or the
   * run began): that moment is the call's start, so durations and time to first token include the
   * API's wait, as they do for the native engine.
   */
  private requestSince = Date.now();
  private call:
    | { handle: ModelCall; usage: ModelCallUsage; id?: string; model?: string; stop?: string; first: boolean }
    | undefined;

  constructor(opts: MapperOptions) {
    this.opts = opts;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Adds the run's user input as the first persisted message. */
  addUserInput(text: string): void {
    if (text !== '') this.messages.push({ role: 'user', text, content: [{ type: 'text', text }] });
  }

  /** Name of a tool call seen in this run (for MCP handlers and hooks). */
  toolName(id: string): string | undefined {
    return this.tools.get(id)?.name;
  }

  handle(m: SDKMessage): void {
    switch (m.type) {
      case 'system':
        this.onSystem(m);
        return;
      case 'stream_event':
        if (m.parent_tool_use_id !== null) return; // a subagent's stream
        this.observeStream(m.event);
        if (
          m.event.type === 'content_block_delta' &&
          m.event.delta.type === 'text_delta' &&
          m.event.delta.text
        ) {
          this.opts.emit({ type: 'text.delta', data: { text: m.event.delta.text } });
        }
        return;
      case 'assistant':
        if (m.parent_tool_use_id !== null) return;
        this.onAssistant(m.message.id, m.message.model, m.message.content as unknown[], m.error);
        return;
      case 'user':
        if (m.parent_tool_use_id !== null || ('isReplay' in m && m.isReplay === true)) return;
        this.onUser(m.message.content);
        return;
      case 'result':
        this.result = m;
        return;
      default:
        return;
    }
  }

  /** Model-call bookkeeping from the raw stream of the main loop (see `requestSince`). */
  private observeStream(ev: Extract<SDKMessage, { type: 'stream_event' }>['event']): void {
    const observer = this.opts.observer;
    if (!observer) return;
    switch (ev.type) {
      case 'message_start': {
        this.endCall('superseded');
        const u = ev.message.usage;
        this.call = {
          handle: observer.start({ model: ev.message.model, startedAt: this.requestSince }),
          usage: {
            inputTokens: u.input_tokens ?? 0,
            outputTokens: u.output_tokens ?? 0,
            cacheReadInputTokens: u.cache_read_input_tokens ?? 0,
            cacheCreationInputTokens: u.cache_creation_input_tokens ?? 0,
          },
          id: ev.message.id,
          model: ev.message.model,
          first: false,
        };
        return;
      }
      case 'content_block_delta':
        if (this.call && !this.call.first) {
          this.call.first = true;
          this.call.handle.firstToken();
        }
        return;
      case 'message_delta':
        if (!this.call) return;
        if (ev.delta.stop_reason) this.call.stop = ev.delta.stop_reason;
        if (typeof ev.usage.output_tokens === 'number') this.call.usage.outputTokens = ev.usage.output_tokens;
        if (typeof ev.usage.input_tokens === 'number') this.call.usage.inputTokens = ev.usage.input_tokens;
        return;
      case 'message_stop':
        this.endCall();
        this.requestSince = Date.now();
        return;
      default:
        return;
    }
  }

  /** Ends the open model call (at the run's end, with `error` when its answer never finished). */
  endCall(error?: string): void {
    const c = this.call;
    if (!c) return;
    this.call = undefined;
    c.handle.end({
      usage: c.usage,
      ...(c.stop ? { finishReason: c.stop } : {}),
      ...(c.model ? { responseModel: c.model } : {}),
      ...(c.id ? { responseId: c.id } : {}),
      ...(error ? { error } : {}),
    });
  }

  private onSystem(m: Extract<SDKMessage, { type: 'system' }>): void {
    if (m.subtype === 'init') {
      this.claudeSessionId = m.session_id;
      return;
    }
    if (m.subtype === 'api_retry') {
      if (m.error === 'authentication_failed' || m.error_status === 401 || m.error_status === 403) {
        this.authFailure = { status: m.error_status, error: m.error };
        return;
      }
      const status = m.error_status === null ? 'no response' : `HTTP ${m.error_status}`;
      this.opts.emit({
        type: 'session.notice',
        data: {
          message: `LLM request failed (${status}, ${m.error}); Claude Code retries in ${formatDelay(m.retry_delay_ms)} (retry ${m.attempt} of ${m.max_retries}).`,
        },
      });
      return;
    }
    if (m.subtype === 'compact_boundary') {
      this.opts.emit({
        type: 'session.notice',
        data: { message: 'Claude Code compacted the conversation to fit the context window.' },
      });
    }
  }

  private onAssistant(
    id: string,
    model: string,
    content: unknown[],
    error: SDKAssistantMessageError | undefined,
  ): void {
    const texts: string[] = [];
    const blocks: Block[] = [];
    for (const b of content) {
      if (!isRecord(b)) continue;
      if (b.type === 'text' && typeof b.text === 'string' && b.text !== '') {
        texts.push(b.text);
        blocks.push({ type: 'text', text: b.text });
      } else if (b.type === 'tool_use' && typeof b.id === 'string' && typeof b.name === 'string') {
        blocks.push({ type: 'tool_use', id: b.id, name: b.name, input: isRecord(b.input) ? b.input : {} });
      }
    }
    const text = texts.join('\n\n');
    // Claude Code reports API failures as a synthetic assistant message ("API Error: 400 …").
    if (error !== undefined || model === '<synthetic>') {
      this.apiError = { kind: error, text: text || 'the LLM request failed' };
      return;
    }
    this.assistantOutput = true;
    for (const b of blocks) {
      if (b.type !== 'tool_use') continue;
      const toolUseId = b.id as string;
      const name = b.name as string;
      this.tools.set(toolUseId, { name, startedAt: this.now(), done: false });
      this.opts.emit({ type: 'tool.started', data: { toolUseId, name, input: b.input } });
    }
    if (text !== '') {
      this.lastAssistantText = text;
      this.opts.emit({ type: 'message.assistant', data: { text } });
    }
    if (blocks.length === 0) return;
    // One SDK message per content block: blocks of the same API message (same id) are one turn.
    const last = this.messages.at(-1);
    if (last && last.role === 'assistant' && this.assistantId === id && Array.isArray(last.content)) {
      last.content.push(...blocks);
      if (text !== '') last.text = last.text ? `${last.text}\n\n${text}` : text;
    } else {
      this.messages.push({ role: 'assistant', text, content: blocks });
    }
    this.assistantId = id;
  }

  private onUser(content: unknown): void {
    if (!Array.isArray(content)) return;
    const results: Block[] = [];
    for (const b of content) {
      if (!isRecord(b) || b.type !== 'tool_result' || typeof b.tool_use_id !== 'string') continue;
      const toolUseId = b.tool_use_id;
      const isError = b.is_error === true;
      const output = capOutput(flattenToolResult(b.content), this.opts.outputLimit);
      const started = this.tools.get(toolUseId);
      if (started && !started.done) {
        started.done = true;
        this.opts.emit({
          type: 'tool.completed',
          data: {
            toolUseId,
            name: started.name,
            isError,
            output,
            durationMs: Math.max(0, Math.round(this.now() - started.startedAt)),
          },
        });
      }
      const block: Block = {
        type: 'tool_result',
        tool_use_id: toolUseId,
        content: output === '' ? '(no output)' : output,
      };
      if (isError) block.is_error = true;
      results.push(block);
    }
    if (results.length === 0) return;
    this.requestSince = Date.now();
    this.assistantId = undefined;
    const last = this.messages.at(-1);
    if (
      last &&
      last.role === 'user' &&
      Array.isArray(last.content) &&
      last.content.every((b) => isRecord(b) && b.type === 'tool_result')
    ) {
      last.content.push(...results);
    } else {
      this.messages.push({ role: 'user', text: '', content: results });
    }
  }
}

function formatDelay(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

// --- usage ----------------------------------------------------------------------------------

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

/**
 * The run's usage. Claude Code's `total_cost_usd` and `modelUsage` are cumulative over a resumed
 * session (they include earlier runs), so the per-result delta `model_usage_since_last_result`
 * (sent by Claude Code 2.1.x) is preferred; without it, the main-loop `usage` with
 * `total_cost_usd` (only when the conversation was not resumed) or the list price.
 */
export function resultUsage(r: SDKResultMessage, model: string, resumed: boolean): Usage {
  const since = (r as { model_usage_since_last_result?: unknown }).model_usage_since_last_result;
  if (isRecord(since) && Object.keys(since).length > 0) {
    let input = 0;
    let output = 0;
    let cost = 0;
    for (const v of Object.values(since)) {
      if (!isRecord(v)) continue;
      const mu = v as Partial<ModelUsage>;
      input += num(mu.inputTokens) + num(mu.cacheReadInputTokens) + num(mu.cacheCreationInputTokens);
      output += num(mu.outputTokens);
      cost += num(mu.costUSD);
    }
    return { inputTokens: input, outputTokens: output, costUsd: Math.round(cost * 1e6) / 1e6 };
  }
  const u: Record<string, unknown> = isRecord(r.usage) ? (r.usage as unknown as Record<string, unknown>) : {};
  const tokens: TokenUsage = {
    inputTokens: num(u.input_tokens),
    outputTokens: num(u.output_tokens),
    cacheCreationInputTokens: num(u.cache_creation_input_tokens),
    cacheReadInputTokens: num(u.cache_read_input_tokens),
  };
  const total =
    typeof r.total_cost_usd === 'number' && Number.isFinite(r.total_cost_usd) ? r.total_cost_usd : undefined;
  return {
    inputTokens:
      tokens.inputTokens + (tokens.cacheCreationInputTokens ?? 0) + (tokens.cacheReadInputTokens ?? 0),
    outputTokens: tokens.outputTokens,
    costUsd: total !== undefined && !resumed ? total : costUsd(model, tokens),
  };
}

// --- outcome --------------------------------------------------------------------------------

export type Outcome =
  | { kind: 'ok'; stopReason: string; usage: Usage; finalText: string }
  | { kind: 'error'; error: EngineError }
  | { kind: 'resume_missing' };

const NO_CONVERSATION = /No conversation found with session ID/i;
const LLM_TERMINAL_REASONS = new Set([
  'api_error',
  'model_error',
  'prompt_too_long',
  'image_error',
  'blocking_limit',
]);

function authLike(status: number | null | undefined, kind: string | undefined, text: string): boolean {
  return (
    status === 401 ||
    status === 403 ||
    kind === 'authentication_failed' ||
    /\b(invalid (x-)?api[- ]?key|authentication_error|API Error: 40[13])\b/i.test(text)
  );
}

/** The run's outcome from its `result` message. */
export function interpretResult(
  r: SDKResultMessage,
  info: {
    model: string;
    resumed: boolean;
    mapper: Pick<RunMapper, 'apiError' | 'lastAssistantText' | 'assistantOutput'>;
  },
): Outcome {
  const usage = resultUsage(r, info.model, info.resumed);
  const terminal = (r as { terminal_reason?: string }).terminal_reason;
  if (r.subtype === 'success') {
    if (!r.is_error)
      return { kind: 'ok', stopReason: r.stop_reason ?? 'end_turn', usage, finalText: r.result };
    const text = r.result || info.mapper.apiError?.text || 'the LLM request failed';
    const status = (r as { api_error_status?: number | null }).api_error_status;
    const code = authLike(status, info.mapper.apiError?.kind, text) ? 'llm_auth_error' : 'llm_error';
    return { kind: 'error', error: new EngineError(code, text, usage) };
  }
  if (r.subtype === 'error_max_turns') {
    return { kind: 'ok', stopReason: 'max_turns', usage, finalText: info.mapper.lastAssistantText };
  }
  const errors = (r.errors ?? []).filter(
    (e) => typeof e === 'string' && e !== '' && !e.startsWith('[ede_diagnostic]'),
  );
  const message = errors.join('; ') || info.mapper.apiError?.text || `Claude Code stopped: ${r.subtype}`;
  if (r.subtype === 'error_during_execution') {
    if (!info.mapper.assistantOutput && errors.some((e) => NO_CONVERSATION.test(e)))
      return { kind: 'resume_missing' };
    if (info.mapper.apiError && authLike(null, info.mapper.apiError.kind, info.mapper.apiError.text)) {
      return { kind: 'error', error: new EngineError('llm_auth_error', info.mapper.apiError.text, usage) };
    }
    const llm =
      (terminal !== undefined && LLM_TERMINAL_REASONS.has(terminal)) || info.mapper.apiError !== undefined;
    return { kind: 'error', error: new EngineError(llm ? 'llm_error' : 'engine_error', message, usage) };
  }
  if (r.subtype === 'error_max_budget_usd') {
    return { kind: 'error', error: new EngineError('budget_exceeded', message, usage) };
  }
  return { kind: 'error', error: new EngineError('engine_error', message, usage) };
}

// --- history seed ---------------------------------------------------------------------------

/**
 * A fresh conversation's first prompt when Claude Code's own transcript is unavailable: a short
 * text summary of the session's earlier messages (newest kept when too long), then the input.
 */
export function seedPrompt(
  history: ReadonlyArray<ConversationTurn>,
  input: string,
  opts: { maxChars?: number; perMessage?: number } = {},
): string {
  const maxChars = opts.maxChars ?? 8000;
  const perMessage = opts.perMessage ?? 800;
  const lines: string[] = [];
  for (const r of history) {
    if (r.role !== 'user' && r.role !== 'assistant') continue;
    let text = (r.text || contentText(r.content)).trim();
    if (text === '') continue;
    if (text.length > perMessage) text = `${text.slice(0, perMessage)}…`;
    lines.push(`${r.role === 'user' ? 'User' : 'Assistant'}: ${text}`);
  }
  if (lines.length === 0) return input;
  const kept: string[] = [];
  let size = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (size + l.length > maxChars && kept.length > 0) break;
    kept.unshift(l);
    size += l.length + 1;
  }
  const omitted = lines.length - kept.length;
  return [
    '[Context: this message continues an earlier conversation whose full transcript is not available. Summary of the earlier messages, oldest first:]',
    ...(omitted > 0 ? [`(${omitted} earlier message${omitted === 1 ? '' : 's'} omitted)`] : []),
    ...kept,
    '[End of the earlier conversation. The new message follows.]',
    '',
    input,
  ].join('\n');
}
