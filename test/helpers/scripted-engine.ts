// A scripted stand-in for an LLM engine (src/agent/engine.ts), to test the run engine at its own
// API: each run plays a script — emit events, wait for the test, block until aborted, write into
// the workspace, fail — then returns a scripted result. It honours the abort signal the way the
// real engines do (a wait ends by throwing the signal's reason), and records every run it got.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type {
  ApprovalVerdict,
  Engine,
  EngineEvent,
  EngineResult,
  EngineRunContext,
} from '../../src/agent/engine.ts';
import type { EngineName, Usage } from '../../src/protocol/index.ts';

export type Step =
  /** Emits an event through the run context. */
  | { emit: EngineEvent }
  /** Waits until the test calls `release(name)` (or the run is aborted). */
  | { wait: string }
  /** Waits until the run is aborted (cancel, drain, lease loss, timeout, quota stop). */
  | { block: true }
  /** Writes a file of `bytes` bytes into the run's workspace. */
  | { write: { file: string; bytes: number } }
  /** Throws (an EngineError for a coded failure, any Error for a crash). */
  | { fail: Error }
  /** Asks the run's approval gate about a tool call, as an engine does before it runs one. */
  | { tool: { name: string; input: unknown; toolUseId?: string } }
  /** Reports model usage to the run's meter, as an engine does while the model streams. */
  | { usage: Usage };

export interface Script {
  steps?: Step[];
  /** Overrides of the default result (see `defaultResult`). */
  result?: Partial<EngineResult>;
}

export interface EngineCall {
  ctx: EngineRunContext;
  /** The approval gate's answers to the run's `tool` steps, in order (allow when there is no gate). */
  verdicts: ApprovalVerdict[];
  /** How the run left the engine, once it has. */
  end?: 'returned' | 'threw';
}

export const USAGE: Usage = { inputTokens: 10, outputTokens: 5, costUsd: 0.001 };

export function defaultResult(ctx: EngineRunContext): EngineResult {
  const finalText = `done: ${ctx.input}`;
  return {
    stopReason: 'end_turn',
    usage: { ...USAGE },
    finalText,
    messages: [
      { role: 'user', text: ctx.input },
      { role: 'assistant', text: finalText },
    ],
    toolMeta: [],
  };
}

const aborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

export class ScriptedEngine implements Engine {
  readonly name: EngineName;
  /** Every run the engine was handed, in the order they started. */
  readonly calls: EngineCall[] = [];
  /** Most runs in the engine at the same time so far. */
  maxConcurrent = 0;
  #scripts = new Map<string, Script>();
  #fallback: Script;
  #gates = new Map<string, { promise: Promise<void>; open: () => void }>();
  #watchers: Array<() => void> = [];

  /** `fallback`: the script of a run whose input has none of its own (default: just the result). */
  constructor(opts: { name?: EngineName; fallback?: Script } = {}) {
    this.name = opts.name ?? 'native';
    this.#fallback = opts.fallback ?? {};
  }

  /** The script of every run whose input is `input`. */
  script(input: string, script: Script | Step[]): this {
    this.#scripts.set(input, Array.isArray(script) ? { steps: script } : script);
    return this;
  }

  /** Lets every run waiting at `{ wait: name }` go on (also the ones that arrive later). */
  release(name: string): void {
    this.#gate(name).open();
  }

  /** Runs in the engine now. */
  get active(): number {
    return this.calls.filter((c) => !c.end).length;
  }

  /** The inputs of the runs, in start order. */
  get inputs(): string[] {
    return this.calls.map((c) => c.ctx.input);
  }

  /** Resolves with the run's call once a run with this input (or id) is in the engine. */
  async started(inputOrRunId: string, timeoutMs = 5_000): Promise<EngineCall> {
    const find = () => this.calls.find((c) => c.ctx.input === inputOrRunId || c.ctx.runId === inputOrRunId);
    const end = Date.now() + timeoutMs;
    for (let found = find(); ; found = find()) {
      if (found) return found;
      if (Date.now() > end) throw new Error(`run "${inputOrRunId}" never reached the engine`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 20);
        this.#watchers.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async run(ctx: EngineRunContext): Promise<EngineResult> {
    const call: EngineCall = { ctx, verdicts: [] };
    this.calls.push(call);
    this.maxConcurrent = Math.max(this.maxConcurrent, this.active);
    for (const w of this.#watchers.splice(0)) w();
    const script = this.#scripts.get(ctx.input) ?? this.#fallback;
    try {
      for (const step of script.steps ?? []) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        if ('emit' in step) ctx.emit(step.emit);
        else if ('wait' in step) await Promise.race([this.#gate(step.wait).promise, aborted(ctx.signal)]);
        else if ('block' in step) await aborted(ctx.signal);
        else if ('tool' in step) {
          const { name, input, toolUseId } = step.tool;
          const verdict = ctx.approvals
            ? await ctx.approvals.check({ toolUseId: toolUseId ?? `tu_${call.verdicts.length}`, name, input })
            : { allow: true as const };
          call.verdicts.push(verdict);
        } else if ('usage' in step) ctx.meter?.add(step.usage);
        else if ('write' in step)
          await fsp.writeFile(path.join(ctx.workspace, step.write.file), Buffer.alloc(step.write.bytes, 1));
        else throw step.fail;
      }
      // An engine stopped in its last step (a tool call denied because the run stopped) does not complete.
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const result = { ...defaultResult(ctx), ...script.result };
      call.end = 'returned';
      return result;
    } catch (err) {
      call.end = 'threw';
      throw err;
    }
  }

  #gate(name: string) {
    let gate = this.#gates.get(name);
    if (!gate) {
      let open = () => {};
      const promise = new Promise<void>((r) => {
        open = r;
      });
      gate = { promise, open };
      this.#gates.set(name, gate);
    }
    return gate;
  }
}
