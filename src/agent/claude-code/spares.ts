// The pool of warm Claude Code spares (CLAUDE_SPARES, of which CLAUDE_SPARES_READY are claimed ahead
// into their empty workspace — see ./spare.ts): keeps that many started, hands one to a new session's
// first run, and starts its replacement in the background. A spare is started only while memory
// admits another Claude Code process (`host.admit`, the scheduler's admission rule), and one whose
// shape no longer matches what a run gets (server tools changed, e.g. an MCP server reconnected with
// other tools) is discarded. Spares that die are replaced with a back-off, so a CLI that cannot start
// does not spin.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../observability/logger.ts';
import type { SandboxWrapper } from '../../sandbox/types.ts';
import type { Slot } from '../../sandbox/workspace/manager.ts';
import type { Tool } from '../../tools/types.ts';
import type { PolicySettings } from './policy.ts';
import { type RunShape, runShape, shapeMismatch } from './query-options.ts';
import { type ReservedLlmAccess, Spare, type SpareKind } from './spare.ts';
import type { ClaudeCodeEngineOptions } from './types.ts';

/** What the composition root gives the pool. */
export interface SpareHost {
  /** Spares to keep started (CLAUDE_SPARES). */
  count: number;
  /** How many of them are claimed ahead, for runs in an empty workspace (CLAUDE_SPARES_READY). */
  ready: number;
  /** The model spares are started for (runs of another model start cold). */
  model: string;
  /** Workspace/home pairs for spares; a discarded spare's slot is removed. */
  slots: { allocate(): Promise<Slot>; discard(name: string): Promise<void> };
  /** The environment a run in `home` gets (the workspace preparer's). */
  envFor(home: string): Record<string, string>;
  /** The tools a run gets (only their definitions matter here). */
  tools(): Tool[];
  /** A proxy token that refuses everything until activated. */
  reserveLlm(): ReservedLlmAccess;
  /** Whether memory admits one more Claude Code process now; true reserves it for `key` (warm-up). */
  admit(key: string): boolean;
  /** The spare's process ended or was claimed (its warm-up reservation can go). */
  released?(key: string): void;
}

export interface SpareStats {
  starting: number;
  parked: number;
  ready: number;
  /** Spares claimed by runs since start. */
  claimed: number;
  /** Spares that failed to start or died while parked. */
  failed: number;
  /** Spares discarded because their shape no longer matched (or their date passed). */
  discarded: number;
}

export interface SparePoolDeps {
  opts: ClaudeCodeEngineOptions;
  settings: PolicySettings;
  host: SpareHost;
  sandbox?: SandboxWrapper;
  logger: Logger;
}

const MAX_STARTING = 2;
const REPLACE_DELAY_MS = 1_000;
const RETRY_MS = 1_000;
const MAX_BACKOFF_MS = 60_000;

export class SparePool {
  private readonly spares = new Set<Spare>();
  /** Spares being set up that are not in `spares` yet (their slot is being made). */
  private readonly pending = new Set<{ id: string; kind: SpareKind }>();
  private closed = false;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private counts = { claimed: 0, failed: 0, discarded: 0 };
  private readonly log: Logger;
  private readonly d: SparePoolDeps;

  constructor(deps: SparePoolDeps) {
    this.d = deps;
    this.log = deps.logger.child({ component: 'claude-spares' });
  }

  /** The shape a run in `home` would have now (what a new spare is started with). */
  private shapeFor(home: string): RunShape {
    const { host, opts, settings } = this.d;
    return runShape(opts, settings, { tools: host.tools(), env: host.envFor(home), model: host.model });
  }

  stats(): SpareStats {
    let starting = 0;
    let parked = 0;
    let ready = 0;
    for (const s of this.spares) {
      if (s.state === 'starting') starting++;
      else if (s.state === 'parked') parked++;
      else if (s.state === 'ready') ready++;
    }
    return { starting, parked, ready, ...this.counts };
  }

  /** Pids of the spares' processes (benchmarks, tests). */
  pids(): number[] {
    return [...this.spares].flatMap((s) => s.pid() ?? []);
  }

  /** Starts spares until `count` are up (or starting), as memory admits. */
  fill(): void {
    if (this.closed || this.timer) return;
    const { count, ready: readyTarget } = this.d.host;
    let starting = this.pending.size;
    let ready = 0;
    for (const s of [...this.spares, ...this.pending]) {
      if ('state' in s && s.state === 'starting') starting++;
      if (s.kind === 'ready') ready++;
    }
    while (this.spares.size + this.pending.size < count && starting < MAX_STARTING) {
      const id = `spare-${randomBytes(4).toString('hex')}`;
      if (!this.d.host.admit(id)) {
        this.retryIn(RETRY_MS); // memory: try again later (a run's end frees some)
        return;
      }
      const kind: SpareKind = ready < Math.min(readyTarget, count) ? 'ready' : 'parked';
      if (kind === 'ready') ready++;
      starting++;
      this.launch(id, kind);
    }
  }

  private retryIn(ms: number): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fill();
    }, ms);
    this.timer.unref?.();
  }

  private launch(id: string, kind: SpareKind): void {
    const { host } = this.d;
    // Registered at once (as starting) so fill() counts it; the slot comes first.
    const placeholder = { id, kind };
    void (async () => {
      let slot: Slot | undefined;
      let spare: Spare | undefined;
      try {
        slot = await host.slots.allocate();
        if (this.closed) throw new Error('the pool is closed');
        spare = new Spare({
          id,
          kind,
          opts: this.d.opts,
          slot,
          shape: this.shapeFor(slot.home),
          grant: host.reserveLlm(),
          ...(this.d.sandbox ? { sandbox: this.d.sandbox } : {}),
          logger: this.d.logger,
        });
        this.spares.add(spare);
        this.pending.delete(placeholder);
        const s = spare;
        void s.exited.then(() => this.onExit(s));
        await s.start();
        if (this.closed) await s.kill();
        if (s.state === 'closed') return;
        this.failures = 0;
        this.log.info('claude-code spare ready', { spare: id, kind, ms: Date.now() - s.startedAt });
        // At most MAX_STARTING start at once: this one's start frees a turn for the next.
        this.fill();
      } catch (err) {
        this.pending.delete(placeholder);
        this.counts.failed++;
        this.failures++;
        host.released?.(id);
        if (spare) {
          this.spares.delete(spare);
          spare.close();
        }
        if (slot) await host.slots.discard(slot.name).catch(() => {});
        if (!this.closed) {
          const wait = Math.min(MAX_BACKOFF_MS, RETRY_MS * 2 ** Math.min(6, this.failures));
          this.log.warn('a claude-code spare failed to start', { spare: id, err, retryInMs: wait });
          this.retryIn(wait);
        }
      }
    })();
    this.pending.add(placeholder);
  }

  private onExit(s: Spare): void {
    if (s.state === 'starting') return; // a failed start: launch() accounts for it
    if (!this.spares.delete(s)) return;
    this.d.host.released?.(s.id);
    if (s.state !== 'claimed' && s.state !== 'closed') {
      // Died while parked: nobody was placed in its slot.
      this.counts.failed++;
      this.failures++;
      this.log.warn('a parked claude-code spare exited', { spare: s.id, stderr: s.stderrTail.toString() });
      s.close();
      void this.d.host.slots.discard(s.slot.name).catch(() => {});
      this.retryIn(Math.min(MAX_BACKOFF_MS, RETRY_MS * 2 ** Math.min(6, this.failures)));
      return;
    }
    this.fill();
  }

  /**
   * A spare for a new session's first run on `model`: a ready one when the run's workspace starts
   * empty and the session has no system prompt of its own (`empty`), else a parked one. The spare
   * leaves the pool (its slot becomes the session's) and a replacement starts.
   */
  take(want: { model: string; empty: boolean }): Spare | undefined {
    if (this.closed || want.model !== this.d.host.model) return undefined;
    let pick: Spare | undefined;
    for (const s of this.spares) {
      if (!s.current()) {
        this.discard(s, 'date');
        continue;
      }
      if (s.state === 'ready' && want.empty) {
        pick = s;
        break;
      }
      if (s.state === 'parked' && !pick) pick = s;
    }
    if (!pick) return undefined;
    this.spares.delete(pick);
    this.counts.claimed++;
    this.d.host.released?.(pick.id);
    void pick.exited.then(() => this.fill());
    // The replacement starts a moment later: a CLI's start-up takes a core for a while, and the run
    // that just took this spare is about to make its first model request.
    this.retryIn(REPLACE_DELAY_MS);
    return pick;
  }

  /**
   * A run found that `spare` (taken from this pool) does not fit it: discards the spares whose shape
   * (beyond their own home) no longer matches the current one, so their replacements get it.
   */
  refresh(): void {
    for (const s of this.spares) {
      const now = this.shapeFor(s.slot.home);
      const why = shapeMismatch(s.shape, now);
      if (why) this.discard(s, why);
    }
    this.fill();
  }

  private discard(s: Spare, why: string): void {
    if (!this.spares.delete(s)) return;
    this.counts.discarded++;
    this.d.host.released?.(s.id);
    this.log.info('claude-code spare discarded', { spare: s.id, why });
    s.close();
    void this.d.host.slots.discard(s.slot.name).catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const all = [...this.spares];
    this.spares.clear();
    await Promise.allSettled(all.map((s) => s.kill()));
    await Promise.allSettled(all.map((s) => this.d.host.slots.discard(s.slot.name)));
  }
}
