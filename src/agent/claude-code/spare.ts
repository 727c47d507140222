// One warm Claude Code spare: a CLI process started, initialised and parked inside the sandbox before
// the run it will serve is known (the Agent SDK's `prewarm()`), in a slot — a workspace/home pair
// with its own sandbox uid (src/sandbox/workspace/manager.ts) — and holding a per-run LLM proxy
// token that the proxy refuses until the run activates it (src/security/llm-proxy.ts ReservedGrant).
//
// Two kinds:
// - `parked`: bound to its run with `claim()` once the run's workspace is ready (a repository cloned
//   into the slot's workspace first), with the run's system prompt;
// - `ready`: already claimed into its own, empty workspace with the default system prompt, its first
//   message held back: Claude Code has done everything a claim does (the working directory's
//   context, session registration) and only waits for the prompt. Only a run whose workspace is
//   empty (no repository) and whose session has no system prompt of its own can use it — what the
//   claim saw is then exactly what a cold start would.
//
// Everything Claude Code fixes at start-up comes from ./query-options.ts hostOptions with the same
// shape a cold start of that run would have; the hooks, canUseTool and server tools act through
// `binding`, which is empty (every tool call refused) until the engine binds the run.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { prewarm, type Query, type SDKUserMessage, type SpareProcess } from '@anthropic-ai/claude-agent-sdk';
import type { Logger } from '../../observability/logger.ts';
import type { SandboxWrapper } from '../../sandbox/types.ts';
import type { Slot } from '../../sandbox/workspace/manager.ts';
import { withShimPath } from '../../tools/command-shims.ts';
import type { SpareTicket } from '../engine.ts';
import type { TokenUsage } from '../pricing.ts';
import { buildCliEnv, type CliSpawner, cliSpawner, lineSplitter, TailLines } from './process.ts';
import { appendedPrompt, hostOptions, RunBinding, type RunShape } from './query-options.ts';
import { claudeConfigDir, newClaudeSessionId } from './session-store.ts';
import type { ClaudeCodeEngineOptions, LlmAccess } from './types.ts';

/** A proxy token that refuses everything until it is activated for a run. */
export interface ReservedLlmAccess {
  baseUrl: string;
  apiKey: string;
  activate(runId: string, model: string, onUsage?: (increment: TokenUsage) => void): LlmAccess;
  release(): void;
}

export type SpareKind = 'parked' | 'ready';
export type SpareState = 'starting' | 'parked' | 'ready' | 'claimed' | 'closed';

/** How long a spare may take to start and initialise before it is given up. */
const START_TIMEOUT_MS = 60_000;

export interface SpareArgs {
  id: string;
  kind: SpareKind;
  opts: ClaudeCodeEngineOptions;
  slot: Slot;
  shape: RunShape;
  grant: ReservedLlmAccess;
  sandbox?: SandboxWrapper;
  logger: Logger;
}

/** What the engine runs a claimed spare with (the same parts a cold start makes for itself). */
export interface ServingSpare {
  query: Query;
  spawner: CliSpawner;
  controller: AbortController;
  stderrTail: TailLines;
  /** Settles with the claim's refusal reason (undefined: accepted, or a ready spare's earlier claim). */
  refusal: Promise<string | undefined>;
}

export class Spare implements SpareTicket {
  readonly id: string;
  readonly kind: SpareKind;
  readonly slot: Slot;
  readonly shape: RunShape;
  readonly grant: ReservedLlmAccess;
  /** The conversation id Claude Code was started with (known before the run, recorded at its claim). */
  readonly claudeSessionId = newClaudeSessionId();
  /** The Claude Code config dir's name under `<home>/claude/` (the slot's, not the session's id). */
  readonly configKey: string;
  readonly binding = new RunBinding();
  readonly controller = new AbortController();
  readonly stderrTail = new TailLines(20);
  readonly startedAt = Date.now();
  /** The UTC and local date when a ready spare was claimed (its context carries "today's date"). */
  boundOn: string | undefined;
  state: SpareState = 'starting';
  /** Resolves when the process has exited (claimed or not). */
  readonly exited: Promise<void>;
  private markExited!: () => void;
  private readonly spawner: CliSpawner;
  private readonly log: Logger;
  private process: SpareProcess | undefined;
  /** A ready spare: its claimed Query, and the gate its first message waits behind. */
  private readyQuery: Query | undefined;
  private feed: ((m: { prompt: string; done: Promise<void> }) => void) | undefined;
  private onClose: (() => void) | undefined;

  private readonly a: SpareArgs;

  constructor(a: SpareArgs) {
    this.a = a;
    this.id = a.id;
    this.kind = a.kind;
    this.slot = a.slot;
    this.shape = a.shape;
    this.grant = a.grant;
    this.configKey = a.slot.name;
    this.log = a.logger.child({ spare: a.id });
    this.exited = new Promise<void>((r) => {
      this.markExited = r;
    });
    const stderr = lineSplitter((line) => {
      this.stderrTail.push(line);
      this.log.info('claude-code stderr', { line });
    });
    this.spawner = cliSpawner({
      sandbox: a.sandbox,
      workspace: a.slot.workspace,
      cliEnv: this.cliEnv(),
      onStderr: (chunk) => stderr.push(chunk),
      onSpawn: a.opts.onSpawn,
    });
  }

  /** The ticket's slot name (the executor places the session in it). */
  get slotName(): string {
    return this.slot.name;
  }

  /** The CLI's environment: the run's, with the reserved token, the slot's config dir and the model. */
  private cliEnv(): Record<string, string> {
    const env = this.shape.env;
    return buildCliEnv(
      { ...env, PATH: withShimPath(env.PATH) },
      { baseUrl: this.grant.baseUrl, apiKey: this.grant.apiKey, model: this.shape.model },
      claudeConfigDir(this.slot.home, this.configKey),
    );
  }

  /** Starts and initialises the process; a ready spare is then claimed into its own workspace. */
  async start(): Promise<void> {
    const options = hostOptions({
      opts: this.a.opts,
      shape: this.shape,
      binding: this.binding,
      cliEnv: this.cliEnv(),
      controller: this.controller,
    });
    // Parked in the home's tmp (inside the sandbox; never the session's folder), as this conversation.
    options.cwd = path.join(this.slot.home, 'tmp');
    options.sessionId = this.claudeSessionId;
    options.spawnClaudeCodeProcess = (o) => this.spawner.spawn(o);
    // Inside a sandbox the CLI makes its config dir itself (./process.ts); without one, the server
    // does, in the slot's home, which nothing but the server has touched yet.
    if (!this.a.sandbox || this.a.sandbox.kind === 'none')
      await mkdir(claudeConfigDir(this.slot.home, this.configKey), { recursive: true, mode: 0o700 });
    let sp: SpareProcess;
    try {
      sp = await prewarm({ options, initializeTimeoutMs: START_TIMEOUT_MS });
    } catch (err) {
      this.markExited();
      throw err;
    }
    this.process = sp;
    void sp.exited.then(() => this.markExited());
    if (this.state === 'closed') {
      sp.close();
      return;
    }
    if (this.kind === 'parked') {
      this.state = 'parked';
      return;
    }
    // Ready: claim now, with the default system prompt, into the empty workspace; hold the prompt.
    const first = new Promise<{ prompt: string; done: Promise<void> }>((resolve) => {
      this.feed = resolve;
    });
    // Nothing is read from it until the run feeds it, so closing the spare unblocks it with no message.
    const closed = new Promise<undefined>((resolve) => {
      this.onClose = () => resolve(undefined);
    });
    async function* input(): AsyncGenerator<SDKUserMessage> {
      const m = await Promise.race([first, closed]);
      if (!m) return;
      yield { type: 'user', message: { role: 'user', content: m.prompt }, parent_tool_use_id: null };
      await m.done;
    }
    this.readyQuery = sp.claim({
      prompt: input(),
      options: { cwd: this.slot.workspace, appendSystemPrompt: appendedPrompt(this.shape.policy, undefined) },
    });
    await sp.claimed;
    this.boundOn = today();
    if ((this.state as SpareState) !== 'closed') this.state = 'ready';
  }

  /** Whether a ready spare's claim still describes today (its context carries the date). */
  current(): boolean {
    return this.kind === 'parked' || this.boundOn === today();
  }

  /**
   * Hands the process to a run: a parked spare is claimed into `workspace` with the run's system
   * prompt; a ready one gets its held-back first message. The run has been bound (`binding`) and its
   * token activated before this is called, so the first tool call and model request are the run's.
   */
  serve(run: { prompt: string; inputDone: Promise<void>; workspace: string; append: string }): ServingSpare {
    const sp = this.process;
    if (!sp || (this.state !== 'parked' && this.state !== 'ready'))
      throw new Error(`spare ${this.id} cannot be claimed (${this.state})`);
    const wasReady = this.state === 'ready';
    this.state = 'claimed';
    let query: Query;
    let refusal: Promise<string | undefined>;
    if (wasReady) {
      query = this.readyQuery!;
      this.feed!({ prompt: run.prompt, done: run.inputDone });
      refusal = Promise.resolve(undefined);
    } else {
      const prompt = run.prompt;
      const done = run.inputDone;
      async function* input(): AsyncGenerator<SDKUserMessage> {
        yield { type: 'user', message: { role: 'user', content: prompt }, parent_tool_use_id: null };
        await done;
      }
      query = sp.claim({ prompt: input(), options: { cwd: run.workspace, appendSystemPrompt: run.append } });
      refusal = sp.claimed.then(
        () => undefined,
        (err: unknown) => {
          const msg = err instanceof Error ? err.message : String(err);
          // `option_not_applied`: the prompt was sent and the session runs (without model/thinking).
          return msg.startsWith('option_not_applied') ? undefined : msg;
        },
      );
    }
    return {
      query,
      spawner: this.spawner,
      controller: this.controller,
      stderrTail: this.stderrTail,
      refusal,
    };
  }

  /** Discards an unclaimed spare (its process exits); after a claim the run's end reaps it. */
  close(): void {
    if (this.state === 'closed') return;
    const claimed = this.state === 'claimed';
    this.state = 'closed';
    if (claimed) return;
    this.onClose?.();
    this.grant.release();
    try {
      this.process?.close();
    } catch {
      // already gone
    }
    this.controller.abort();
    this.spawner.terminate();
    void this.spawner.reap(2_000);
  }

  /** Kills the process group at once (engine shutdown). */
  async kill(): Promise<void> {
    this.close();
    this.controller.abort();
    await this.spawner.reap(2_000);
  }

  /** The spare's process id (metrics, tests). */
  pid(): number | undefined {
    return this.spawner.pid();
  }
}

function today(): string {
  const d = new Date();
  return `${d.toISOString().slice(0, 10)}/${d.toDateString()}`;
}
