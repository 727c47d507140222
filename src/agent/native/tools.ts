// Executes the tool calls of one assistant turn: in parallel, each validated against its zod
// schema, with streamed output, capped results and every failure turned into an error result
// for the model (never an exception out of the loop, except the run's abort).
import type { ToolResultBlockParam } from '@anthropic-ai/sdk/resources/messages/messages';
import { z } from 'zod';
import type { Tool, ToolContext, ToolResult } from '../../tools/types.ts';
import { ToolError } from '../../tools/types.ts';
import type { ApprovalGate, EngineRunContext } from '../engine.ts';
import { abortedError } from './retry.ts';
import type { ToolCall } from './stream.ts';

export interface ExecutedTools {
  /** One tool_result per call, in the order of the calls. */
  results: ToolResultBlockParam[];
  meta: Array<Record<string, unknown>>;
}

type RunCtx = Pick<
  EngineRunContext,
  'runId' | 'sessionId' | 'workspace' | 'env' | 'signal' | 'emit' | 'scope' | 'origin' | 'approvals'
>;

/**
 * Runs `calls` in parallel. Emits `tool.started` for every call first, then `tool.output` while
 * they run and `tool.completed` as each finishes. Rejects with EngineError('aborted') as soon as
 * the run's signal aborts (tools get the same signal and are expected to stop).
 */
export async function executeToolCalls(
  calls: readonly ToolCall[],
  tools: readonly Tool[],
  ctx: RunCtx,
  outputLimit: number,
): Promise<ExecutedTools> {
  const byName = new Map(tools.map((t) => [t.name, t]));
  for (const call of calls) {
    ctx.emit({ type: 'tool.started', data: { toolUseId: call.id, name: call.name, input: call.input } });
  }
  const runs = calls.map((call) => runOne(call, byName, ctx, outputLimit));
  const outcomes = await raceAbort(Promise.all(runs), ctx.signal);
  const meta: Array<Record<string, unknown>> = [];
  const results: ToolResultBlockParam[] = [];
  for (const o of outcomes) {
    results.push(o.block);
    if (o.meta && Object.keys(o.meta).length > 0) meta.push(o.meta);
  }
  return { results, meta };
}

interface Outcome {
  block: ToolResultBlockParam;
  meta?: Record<string, unknown>;
}

async function runOne(
  call: ToolCall,
  byName: Map<string, Tool>,
  ctx: RunCtx,
  outputLimit: number,
): Promise<Outcome> {
  const started = performance.now();
  let done = false;
  const onOutput: ToolContext['onOutput'] = (stream, chunk) => {
    if (done || ctx.signal.aborted || chunk === '') return;
    ctx.emit({ type: 'tool.output', data: { toolUseId: call.id, stream, chunk } });
  };
  const result = await invoke(call, byName, ctx.approvals, {
    workspace: ctx.workspace,
    runId: ctx.runId,
    sessionId: ctx.sessionId,
    signal: ctx.signal,
    onOutput,
    env: ctx.env,
    ...(ctx.scope ? { scope: ctx.scope } : {}),
    ...(ctx.origin ? { origin: ctx.origin } : {}),
  });
  done = true;
  const output = capOutput(result.output, outputLimit);
  const durationMs = Math.round(performance.now() - started);
  if (!ctx.signal.aborted) {
    ctx.emit({
      type: 'tool.completed',
      data: { toolUseId: call.id, name: call.name, isError: result.isError, output, durationMs },
    });
  }
  const block: ToolResultBlockParam = {
    type: 'tool_result',
    tool_use_id: call.id,
    content: output === '' ? '(no output)' : output,
  };
  if (result.isError) block.is_error = true;
  return { block, meta: result.meta };
}

async function invoke(
  call: ToolCall,
  byName: Map<string, Tool>,
  gate: ApprovalGate | undefined,
  toolCtx: ToolContext,
): Promise<ToolResult> {
  if (call.inputError)
    return { output: `Invalid input for tool "${call.name}": ${call.inputError}`, isError: true };
  const tool = byName.get(call.name);
  if (!tool) {
    const known = [...byName.keys()].join(', ') || 'none';
    return { output: `Unknown tool "${call.name}". Available tools: ${known}.`, isError: true };
  }
  const parsed = tool.input.safeParse(call.input);
  if (!parsed.success) {
    return {
      output: `Invalid input for tool "${call.name}":\n${z.prettifyError(parsed.error)}`,
      isError: true,
    };
  }
  // Only a call that would run waits for a decision; the wait is between LLM turns (no stream open).
  if (gate) {
    const verdict = await gate.check({ toolUseId: call.id, name: call.name, input: call.input });
    if (!verdict.allow) return { output: verdict.message, isError: true };
  }
  try {
    const r = await tool.execute(parsed.data, toolCtx);
    const output = typeof r?.output === 'string' ? r.output : String(r?.output ?? '');
    const meta = isRecord(r?.meta) ? r.meta : undefined;
    return meta ? { output, isError: r.isError === true, meta } : { output, isError: r?.isError === true };
  } catch (err) {
    if (err instanceof ToolError) return { output: err.message, isError: true };
    const message = err instanceof Error ? err.message : String(err);
    return { output: `Tool "${call.name}" failed: ${message}`, isError: true };
  }
}

/**
 * Caps `text` at `limit` characters keeping the head and the tail (where errors and summaries
 * usually are) with a note of how much was cut in between.
 */
export function capOutput(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const noteFor = (cut: number) =>
    `\n\n[… ${cut} characters omitted (output exceeded ${limit} characters) …]\n\n`;
  const budget = Math.max(0, limit - noteFor(text.length).length);
  const head = Math.ceil(budget * 0.6);
  const tail = budget - head;
  const cut = text.length - head - tail;
  return `${text.slice(0, head)}${noteFor(cut)}${tail > 0 ? text.slice(text.length - tail) : ''}`;
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortedError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
