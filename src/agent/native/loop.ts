// The agent loop: request a turn, run the tools it asks for, feed the results back, until the
// model stops (or the turn budget is spent).
import type Anthropic from '@anthropic-ai/sdk';
import type {
  ContentBlockParam,
  MessageCreateParamsStreaming,
  TextBlockParam,
} from '@anthropic-ai/sdk/resources/messages/messages';
import type { Config } from '../../config.ts';
import { EngineError, type EngineResult, type EngineRunContext } from '../engine.ts';
import { type ApiMessage, toAnthropicMessages } from '../history.ts';
import { costUsd, type TokenUsage } from '../pricing.ts';
import { toAnthropicTools } from '../tool-schema.ts';
import { buildSystemPrompt } from './prompt.ts';
import { abortedError, classifyError, type RetryOptions, retryDelayMs, sleep } from './retry.ts';
import { consumeTurn, type StreamProgress, type Turn } from './stream.ts';
import { executeToolCalls } from './tools.ts';

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
    const turn = await requestTurn(deps, params, ctx);
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
      const executed = await executeToolCalls(turn.toolCalls, ctx.tools, ctx, deps.config.toolOutputLimit);
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

  return {
    stopReason,
    usage: {
      inputTokens: total.inputTokens + total.cacheCreationInputTokens + total.cacheReadInputTokens,
      outputTokens: total.outputTokens,
      costUsd: costUsd(model, total),
    },
    finalText,
    messages: runMessages,
    toolMeta,
  };
}

/** One turn with retries: HTTP errors, connection failures and mid-stream errors. */
async function requestTurn(
  deps: LoopDeps,
  params: MessageCreateParamsStreaming,
  ctx: EngineRunContext,
): Promise<Turn> {
  for (let attempt = 0; ; attempt++) {
    const progress: StreamProgress = { emittedText: false };
    const call = ctx.observer?.start({ model: params.model });
    try {
      const stream = await deps.client.messages.create(params, { signal: ctx.signal, maxRetries: 0 });
      const turn = await consumeTurn(
        stream,
        ctx.emit,
        ctx.signal,
        progress,
        call && (() => call.firstToken()),
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
