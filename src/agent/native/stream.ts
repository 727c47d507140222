// One assistant turn: consume the raw Messages API event stream, emit `text.delta` events as
// text arrives, and assemble the turn (request-format content blocks, tool calls, usage).
import type {
  Usage as ApiUsage,
  ContentBlockParam,
  MessageDeltaUsage,
  RawMessageStreamEvent,
} from '@anthropic-ai/sdk/resources/messages/messages';
import type { EngineEvent } from '../engine.ts';
import type { TokenUsage } from '../pricing.ts';
import { abortedError, IncompleteStreamError } from './retry.ts';

export interface ToolCall {
  id: string;
  name: string;
  input: unknown;
  /** Set when the streamed input was not valid JSON. */
  inputError?: string;
}

export interface Turn {
  /** Request-format blocks (text and tool_use) to send back and persist. */
  content: ContentBlockParam[];
  /** Text blocks joined by blank lines (as streamed). */
  text: string;
  toolCalls: ToolCall[];
  stopReason: string;
  usage: TokenUsage;
  /** The API's message id and the model that answered (message_start). */
  responseId?: string;
  responseModel?: string;
}

/** Shared with the caller so that it knows, when the stream fails, what was emitted. */
export interface StreamProgress {
  emittedText: boolean;
  /** The text streamed so far (kept in the history when the run is interrupted mid-turn). */
  text?: string;
}

type BlockState =
  | { kind: 'text'; text: string }
  | { kind: 'tool_use'; id: string; name: string; json: string; initial: unknown }
  | { kind: 'other' };

export async function consumeTurn(
  events: AsyncIterable<RawMessageStreamEvent>,
  emit: (e: EngineEvent) => void,
  signal: AbortSignal,
  progress: StreamProgress,
  /** Called once, when the first content delta arrives (time to first token). */
  onFirstToken?: () => void,
  /** Called with each usage increment as it streams (values in the stream are cumulative). */
  onUsage?: (increment: TokenUsage) => void,
): Promise<Turn> {
  const blocks = new Map<number, BlockState>();
  const usage: TokenUsage = {
    inputTokens: 0,
    outputTokens: 0,
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: 0,
  };
  let stopReason = '';
  let stopped = false;
  let text = '';
  let firstToken = onFirstToken;
  let responseId: string | undefined;
  let responseModel: string | undefined;
  const reported: Required<TokenUsage> = {
    inputTokens: 0,
    outputTokens: 0,
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: 0,
  };
  const report = () => {
    if (!onUsage) return;
    const inc = increment(usage, reported);
    if (inc) onUsage(inc);
  };

  const emitText = (block: { text: string }, delta: string) => {
    if (delta === '') return;
    // A second text block in the same turn is separated by a blank line, in the deltas too.
    const chunk = block.text === '' && text !== '' ? `\n\n${delta}` : delta;
    block.text += delta;
    text += chunk;
    progress.emittedText = true;
    progress.text = text;
    emit({ type: 'text.delta', data: { text: chunk } });
  };

  for await (const ev of events) {
    switch (ev.type) {
      case 'message_start':
        applyUsage(usage, ev.message.usage);
        responseId = ev.message.id;
        responseModel = ev.message.model;
        report();
        break;
      case 'content_block_start': {
        const cb = ev.content_block;
        if (cb.type === 'text') {
          const state: BlockState = { kind: 'text', text: '' };
          blocks.set(ev.index, state);
          emitText(state, cb.text);
        } else if (cb.type === 'tool_use') {
          blocks.set(ev.index, { kind: 'tool_use', id: cb.id, name: cb.name, json: '', initial: cb.input });
        } else {
          blocks.set(ev.index, { kind: 'other' });
        }
        break;
      }
      case 'content_block_delta': {
        if (firstToken) {
          firstToken();
          firstToken = undefined;
        }
        const state = blocks.get(ev.index);
        if (ev.delta.type === 'text_delta' && state?.kind === 'text') emitText(state, ev.delta.text);
        else if (ev.delta.type === 'input_json_delta' && state?.kind === 'tool_use')
          state.json += ev.delta.partial_json;
        break;
      }
      case 'message_delta':
        if (ev.delta.stop_reason) stopReason = ev.delta.stop_reason;
        applyUsage(usage, ev.usage);
        report();
        break;
      case 'message_stop':
        stopped = true;
        break;
      default:
        break;
    }
  }
  // The SDK ends the iteration quietly when the request is aborted.
  if (signal.aborted) throw abortedError();
  if (!stopped) throw new IncompleteStreamError();

  const content: ContentBlockParam[] = [];
  const toolCalls: ToolCall[] = [];
  for (const index of [...blocks.keys()].sort((a, b) => a - b)) {
    const b = blocks.get(index)!;
    if (b.kind === 'text') {
      if (b.text !== '') content.push({ type: 'text', text: b.text });
    } else if (b.kind === 'tool_use') {
      const call = parseToolInput(b);
      toolCalls.push(call);
      const input = isRecord(call.input) ? call.input : {};
      content.push({ type: 'tool_use', id: b.id, name: b.name, input });
    }
  }
  return {
    content,
    text,
    toolCalls,
    stopReason: stopReason || 'end_turn',
    usage,
    ...(responseId ? { responseId } : {}),
    ...(responseModel ? { responseModel } : {}),
  };
}

function parseToolInput(b: { id: string; name: string; json: string; initial: unknown }): ToolCall {
  if (b.json.trim() === '') return { id: b.id, name: b.name, input: isRecord(b.initial) ? b.initial : {} };
  try {
    return { id: b.id, name: b.name, input: JSON.parse(b.json) as unknown };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { id: b.id, name: b.name, input: {}, inputError: `the tool input was not valid JSON (${why})` };
  }
}

/** message_start carries the full usage; message_delta carries cumulative counts (null = unchanged). */
function applyUsage(into: TokenUsage, u: ApiUsage | MessageDeltaUsage | null | undefined): void {
  if (!u) return;
  if (typeof u.input_tokens === 'number') into.inputTokens = u.input_tokens;
  if (typeof u.output_tokens === 'number') into.outputTokens = u.output_tokens;
  if (typeof u.cache_creation_input_tokens === 'number')
    into.cacheCreationInputTokens = u.cache_creation_input_tokens;
  if (typeof u.cache_read_input_tokens === 'number') into.cacheReadInputTokens = u.cache_read_input_tokens;
}

/** What `cur` adds to `reported` (then recorded there); undefined when nothing grew. */
function increment(cur: TokenUsage, reported: Required<TokenUsage>): TokenUsage | undefined {
  const keys = ['inputTokens', 'outputTokens', 'cacheCreationInputTokens', 'cacheReadInputTokens'] as const;
  const inc: Required<TokenUsage> = {
    inputTokens: 0,
    outputTokens: 0,
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: 0,
  };
  let grew = false;
  for (const k of keys) {
    const d = (cur[k] ?? 0) - reported[k];
    if (d > 0) {
      inc[k] = d;
      reported[k] += d;
      grew = true;
    }
  }
  return grew ? inc : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
