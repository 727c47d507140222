// The agent loop: request a turn, run the tools it asks for, feed the results back, until the
// model stops (or the turn budget is spent).
import type Anthropic from '@anthropic-ai/sdk';
import type {
  ContentBlockParam,
  MessageCreateParamsStreaming,
  TextBlockParam,
  ToolResultBlockParam,
} from '@anthropic-ai/sdk/resources/messages/messages';
import type { Config } from '../../config.ts';
import { EngineError, type EngineResult, type EngineRunContext } from '../engine.ts';
import { type ApiMessage, toAnthropicMessages } from '../history.ts';
import { type TokenUsage, toUsage } from '../pricing.ts';
import { toAnthropicTools } from '../tool-schema.ts';
import { buildSystemPrompt } from './prompt.ts';
import { abortedError, classifyError, type RetryOptions, retryDelayMs, sleep } from './retry.ts';
import { consumeTurn, type StreamProgress, type ToolCall, type Turn } from './stream.ts';
import { capOutput, executeToolCalls } from './tools.ts';

export interface LoopDeps {
  client: Anthropic;
  config: Config;
  retry: RetryOptions;
  /** Overrides the per-model default of `max_tokens`. */
  maxTokens?: number;
  /** Adds cache_control breakpoints (system prompt, newest message). Default true. */
  promptCaching: boolean;
}

export async function runLoop(deps: LoopDeps, ctx: EngineRunContext): Promise<EngineResult> {
  const model = ctx.model || deps.config.model;
  const tools = toAnthropicTools(ctx.tools);
  const system = buildSystemPrompt(ctx.tools, ctx.systemPrompt);
  const messages: ApiMessage[] = toAnthropicMessages(ctx.history, ctx.input);
  const runMessages: EngineResult['messages'] = [];
  if (ctx.input !== '')
    runMessages.push({ role: 'user', text: ctx.input, content: [{ type: 'text', text: ctx.input }] });
  const total: Required<TokenUsage> = {
    inputTokens: 0,
    outputTokens: 0,
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: 0,
  };
  const toolMeta: Array<Record<string, unknown>> = [];
  let finalText = '';
  let stopReason = 'end_turn';
  // What the turn in progress has produced, for the history when the run stops half-way.
  const progress: StreamProgress = { emittedText: false };
  let pendingTools: PendingTools | undefined;
  const meter = ctx.meter;
  const onUsage = meter ? (inc: TokenUsage) => meter.add(toUsage(model, inc)) : undefined;

  try {
    for (let turnNo = 1; ; turnNo++) {
      if (ctx.signal.aborted) throw abortedError();
      const params: MessageCreateParamsStreaming = {
        model,
        max_tokens: deps.maxTokens ?? defaultMaxTokens(model),
        system: systemBlocks(system, deps.promptCaching),
        messages: requestMessages(messages, deps.promptCaching),
        stream: true,
      };
      if (tools.length > 0) params.tools = tools;
      progress.emittedText = false;
      progress.text = undefined;
      const turn = await requestTurn(deps, params, ctx, progress, onUsage);
      progress.text = undefined;
      addUsage(total, turn.usage);

      const wantsTools = turn.stopReason === 'tool_use' && turn.toolCalls.length > 0;
      // tool_use blocks of a turn that did not stop for them are incomplete: never replayed.
      const content = wantsTools ? turn.content : turn.content.filter((b) => b.type !== 'tool_use');
      if (content.length > 0) {
        messages.push({ role: 'assistant', content });
        runMessages.push({ role: 'assistant', text: turn.text, content });
      }
      if (turn.text !== '') {
        finalText = turn.text;
        ctx.emit({ type: 'message.assistant', data: { text: turn.text } });
      }

      if (wantsTools) {
        pendingTools = new PendingTools(turn.toolCalls, deps.config.toolOutputLimit);
        const executed = await executeToolCalls(
          turn.toolCalls,
          ctx.tools,
          { ...ctx, emit: pendingTools.watch(ctx.emit) },
          deps.config.toolOutputLimit,
        );
        pendingTools = undefined;
        toolMeta.push(...executed.meta);
        messages.push({ role: 'user', content: executed.results });
        runMessages.push({ role: 'user', text: '', content: executed.results });
      } else if (turn.stopReason !== 'pause_turn' || content.length === 0) {
        stopReason = turn.stopReason;
        break;
      }
      if (turnNo >= deps.config.maxTurns) {
        stopReason = 'max_turns';
        break;
      }
    }
  } catch (err) {
    // The turns so far, completed so that the history stays valid: the text streamed before the
    // stop, or a result for every tool call that was still running (with its output so far).
    const partial = [...runMessages];
    if (pendingTools) partial.push({ role: 'user', text: '', content: pendingTools.interruptedResults() });
    else if (progress.text) {
      const text = progress.text;
      partial.push({ role: 'assistant', text, content: [{ type: 'text', text }] });
    }
    const usage = toUsage(model, total);
    if (err instanceof EngineError) throw new EngineError(err.code, err.message, err.usage ?? usage, partial);
    throw err;
  }

  return {
    stopReason,
    usage: toUsage(model, total),
    finalText,
    messages: runMessages,
    toolMeta,
  };
}

/**
 * The tool calls of the turn in progress: what each printed, or its result once it completed, so
 * that a run stopped while they run still answers every tool_use (an interrupt keeps the history).
 */
class PendingTools {
  private outputs = new Map<string, string>();
  private done = new Map<string, ToolResultBlockParam>();
  private calls: readonly ToolCall[];
  private limit: number;
  constructor(calls: readonly ToolCall[], limit: number) {
    this.calls = calls;
    this.limit = limit;
  }

  watch(emit: EngineRunContext['emit']): EngineRunContext['emit'] {
    return (ev) => {
      if (ev.type === 'tool.output') {
        const so = this.outputs.get(ev.data.toolUseId) ?? '';
        if (so.length < this.limit) this.outputs.set(ev.data.toolUseId, so + ev.data.chunk);
      } else if (ev.type === 'tool.completed') {
        const block: ToolResultBlockParam = {
          type: 'tool_result',
          tool_use_id: ev.data.toolUseId,
          content: ev.data.output === '' ? '(no output)' : ev.data.output,
        };
        if (ev.data.isError) block.is_error = true;
        this.done.set(ev.data.toolUseId, block);
      }
      emit(ev);
    };
  }

  interruptedResults(): ToolResultBlockParam[] {
    return this.calls.map((c) => {
      const done = this.done.get(c.id);
      if (done) return done;
      const out = capOutput(this.outputs.get(c.id) ?? '', this.limit);
      return {
        type: 'tool_result',
        tool_use_id: c.id,
        is_error: true,
        content: `${INTERRUPTED_TOOL_TEXT}${out ? `\nOutput before it was stopped:\n${out}` : ''}`,
      };
    });
  }
}

/** The result of a tool call cut short because the run was stopped (interrupt, cancel). */
export const INTERRUPTED_TOOL_TEXT = 'The tool call was stopped before it finished: the run was interrupted.';

/** One turn with retries: HTTP errors, connection failures and mid-stream errors. */
async function requestTurn(
  deps: LoopDeps,
  params: MessageCreateParamsStreaming,
  ctx: EngineRunContext,
  progress: StreamProgress,
  onUsage?: (inc: TokenUsage) => void,
): Promise<Turn> {
  for (let attempt = 0; ; attempt++) {
    progress.emittedText = false;
    progress.text = undefined;
    const call = ctx.observer?.start({ model: params.model });
    try {
      const stream = await deps.client.messages.create(params, { signal: ctx.signal, maxRetries: 0 });
      const turn = await consumeTurn(
        stream,
        ctx.emit,
        ctx.signal,
        progress,
        call && (() => call.firstToken()),
        onUsage,
      );
      call?.end({
        usage: turn.usage,
        finishReason: turn.stopReason,
        ...(turn.responseModel ? { responseModel: turn.responseModel } : {}),
        ...(turn.responseId ? { responseId: turn.responseId } : {}),
      });
      return turn;
    } catch (err) {
      const c = classifyError(err, ctx.signal);
      call?.end({ error: c.kind === 'aborted' ? 'aborted' : errorType(err) });
      if (c.kind === 'aborted') throw abortedError();
      if (c.kind === 'fatal') throw c.error;
      if (attempt >= deps.retry.maxRetries) {
        throw new EngineError(
          'llm_unavailable',
          `the LLM is unavailable: ${c.reason}; gave up after ${attempt + 1} attempt${attempt === 0 ? '' : 's'}`,
        );
      }
      const delay = retryDelayMs(attempt + 1, deps.retry, c.retryAfterMs);
      const discarded = progress.emittedText ? ' The partial reply above is discarded.' : '';
      ctx.emit({
        type: 'session.notice',
        data: {
          message: `${c.reason}; retrying in ${formatDelay(delay)} (retry ${attempt + 1} of ${deps.retry.maxRetries}).${discarded}`,
        },
      });
      await sleep(delay, ctx.signal);
    }
  }
}

function systemBlocks(text: string, cache: boolean): TextBlockParam[] {
  return [cache ? { type: 'text', text, cache_control: { type: 'ephemeral' } } : { type: 'text', text }];
}

/**
 * The messages as sent: with caching, a breakpoint on the newest block lets the next turn read
 * the whole conversation so far from the cache. The stored `messages` are left untouched.
 */
function requestMessages(messages: readonly ApiMessage[], cache: boolean): ApiMessage[] {
  if (!cache || messages.length === 0) return messages.map((m) => ({ role: m.role, content: m.content }));
  const out = messages.map((m) => ({ role: m.role, content: m.content }));
  const last = out[out.length - 1]!;
  const lastBlock = last.content.at(-1);
  if (lastBlock && canCache(lastBlock)) {
    last.content = [
      ...last.content.slice(0, -1),
      { ...lastBlock, cache_control: { type: 'ephemeral' } } as ContentBlockParam,
    ];
  }
  return out;
}

function canCache(b: ContentBlockParam): boolean {
  return (
    b.type === 'text' ||
    b.type === 'tool_result' ||
    b.type === 'tool_use' ||
    b.type === 'image' ||
    b.type === 'document'
  );
}

function defaultMaxTokens(model: string): number {
  const id = model.toLowerCase();
  if (id.includes('claude-3-haiku') || id.includes('claude-3-opus')) return 4096;
  if (id.includes('claude-3-5')) return 8192;
  return 32_000;
}

function addUsage(into: Required<TokenUsage>, u: TokenUsage): void {
  into.inputTokens += u.inputTokens;
  into.outputTokens += u.outputTokens;
  into.cacheCreationInputTokens += u.cacheCreationInputTokens ?? 0;
  into.cacheReadInputTokens += u.cacheReadInputTokens ?? 0;
}

/** A short, secret-free name of a failure for the model-call span (`error.type`). */
function errorType(err: unknown): string {
  if (err instanceof EngineError) return err.code;
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof status === 'number') return String(status);
  return err instanceof Error ? err.name : 'error';
}

function formatDelay(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
