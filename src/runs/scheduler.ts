// The run scheduler: claims queued runs from the store (highest priority first, round robin across
// credentials within a priority, FIFO within a credential, one run per session at a time, at most
// MAX_RUNS_PER_KEY per credential), runs at most `maxConcurrentRuns` at once on this instance and
// only while memory admits them (./admission.ts), keeps a lease on each by heartbeat, and
// re-queues runs whose worker died. A run stopped at an approval (docs/api.md §10) is parked: it
// keeps its lease but not its slot, and takes a slot again (ahead of new claims) once its
// approvals are decided.
// It learns of new work and of runs to stop from the lifecycle bus (listen()), and announces the
// runs it re-queues there. All its time (lease expiry, heartbeats, deadlines, the drain grace) is
// read from `clock`.
import { randomBytes } from 'node:crypto';
import { type Clock, systemClock, type Timer } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { EngineName } from '../protocol/index.ts';
import { PRIORITY_RANK, type RunRecord, type Store } from '../store/types.ts';
import { type AdmissionStatus, MemoryAdmission, type MemoryProbe } from './admission.ts';
import type { RunSlot } from './approval-gate.ts';
import type { EventLog } from './event-log.ts';
import type { RunExecutor } from './executor.ts';
import type { Lifecycle, StopReason } from './lifecycle.ts';

/** The label of a run priority: workflows' low/medium/high, and interactive messages above them. */
function priorityName(p: number): string {
  for (const [name, rank] of Object.entries(PRIORITY_RANK)) if (rank === p) return name;
  return p > PRIORITY_RANK.high ? 'interactive' : String(p);
}

/** Most claims issued together in one round (see Scheduler.pump). */
const MAX_CLAIM_ROUND = 32;

/** What one claim of a round came to: a run launched, an error (logged), or an empty queue. */
type ClaimResult = 'claimed' | 'failed' | { engines: EngineName[] | undefined };

/** Why queued work is not being started on this instance (docs/api.md §10, /health `queue`). */
export type HoldReason = 'memory' | 'concurrency';

export interface QueueStatus {
  queued: number;
  active: number;
  maxConcurrentRuns: number;
  /** Set while runs are queued and this instance holds them; absent when nothing waits on it. */
  held?: HoldReason;
  memory: AdmissionStatus;
}

interface Active {
  run: RunRecord;
  controller: AbortController;
  done: Promise<void>;
  /** Why the run is being stopped, once it is. */
  stopReason?: StopReason;
  /** Waiting for people (approvals): it does not count against maxConcurrentRuns meanwhile. */
  parked?: boolean;
}

export class Scheduler {
  private store: Store;
  private config: Config;
  private logger: Logger;
  private metrics: Metrics;
  private eventLog: EventLog;
  private executor: RunExecutor;
  private lifecycle: Lifecycle;
  private deadlineFor?: (run: RunRecord) => Promise<number | undefined>;
  private active = new Map<string, Active>();
  /** Parked runs whose approvals were decided, waiting (in order) for a slot to go on. */
  private resuming: Array<{ runId: string; go: () => void }> = [];
  private accepting = true;
  private pumping = false;
  private pumpAgain = false;
  /** Claims in flight (a round of Scheduler.pump), and a counter naming their reservations. */
  private claiming = 0;
  private claimSeq = 0;
  /** Wake-ups since the last claim round began: the size of the next round (see pump). */
  private wakes = 0;
  private timers: Timer[] = [];
  private clock: Clock;
  private admission: MemoryAdmission;
  /** Why the last pump stopped with work possibly left (undefined: the queue had nothing for it). */
  private holding?: HoldReason;
  readonly workerId: string;

  constructor(opts: {
    store: Store;
    config: Config;
    logger: Logger;
    metrics: Metrics;
    eventLog: EventLog;
    executor: RunExecutor;
    lifecycle: Lifecycle;
    deadlineFor?: (run: RunRecord) => Promise<number | undefined>;
    /** Default the system clock; tests move a manual one. */
    clock?: Clock;
    /** Memory available to new runs; default Node's (cgroup-aware) `process.availableMemory`. */
    memoryProbe?: MemoryProbe;
  }) {
    this.store = opts.store;
    this.config = opts.config;
    this.logger = opts.logger.child({ component: 'scheduler' });
    this.metrics = opts.metrics;
    this.eventLog = opts.eventLog;
    this.executor = opts.executor;
    this.lifecycle = opts.lifecycle;
    this.deadlineFor = opts.deadlineFor;
    this.clock = opts.clock ?? systemClock;
    this.admission = new MemoryAdmission({
      config: opts.config.admission,
      clock: this.clock,
      ...(opts.memoryProbe ? { probe: opts.memoryProbe } : {}),
    });
    // Unique even for two schedulers of one instance started in the same millisecond.
    this.workerId = `${opts.config.instanceId}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  }

  /** New work wakes the scheduler; a stop request stops the run if it runs here; a session's deletion waits for its runs. */
  listen(): Array<() => void> {
    return [
      this.lifecycle.on('run.queued', () => this.wake()),
      this.lifecycle.on('run.stop', ({ runId, reason }) => {
        this.stop(runId, reason);
      }),
      this.lifecycle.on('session.deleting', ({ sessionId }) => this.waitFor(sessionId)),
      // The run's engine is known once it starts: its memory reservation narrows to that engine's.
      this.lifecycle.on('run.started', ({ run, engine }) => {
        if (this.admission.started(run.id, engine as EngineName) && this.holding === 'memory') this.wake();
      }),
    ];
  }

  /** Recovers runs left `running` by a dead worker, then starts claiming. */
  async start(): Promise<void> {
    // A store of this process alone (embedded SQLite): anything still `running` was ours and died
    // with us. A shared store: other instances may be alive; only expired leases are taken over.
    for (const reason of ['memory', 'concurrency'] as const) this.metrics.runsHeld.set({ reason }, 0);
    const now = this.clock.now();
    const cutoff = this.store.shared ? new Date(now) : new Date(now + 365 * 24 * 3600_000);
    await this.recover(cutoff.toISOString());
    const beat = Math.max(250, Math.floor(this.config.leaseMs / 3));
    const unref = { unref: true };
    this.timers.push(this.clock.setInterval(() => void this.heartbeat(), beat, unref));
    this.timers.push(
      this.clock.setInterval(
        () => void this.sweep(),
        Math.max(500, Math.floor(this.config.leaseMs / 2)),
        unref,
      ),
    );
    // Multi-instance: other instances enqueue work we only see by polling.
    this.timers.push(this.clock.setInterval(() => this.wake(), this.store.shared ? 500 : 2_000, unref));
    this.wake();
  }

  /**
   * Whether memory admits one more Claude Code process that is not a run (a warm spare): the same
   * rule as a claim, and like a claim it holds back the engine's estimate while the process starts.
   */
  admitSpare(key: string): boolean {
    if (!this.accepting || !this.admission.status().admits.includes('claude-code')) return false;
    this.admission.claimed(key, ['claude-code']);
    return true;
  }

  /** The spare's process was claimed by a run (which holds its own reservation) or ended. */
  releaseSpare(key: string): void {
    this.admission.ended(key);
  }

  get activeCount(): number {
    return this.active.size;
  }

  /**
   * Runs that hold a slot: active and not parked. A run parked at an approval holds nothing but
   * its record (docs/api.md §10); when its approvals are decided it takes a slot again before it
   * goes on — ahead of new claims — so no more than maxConcurrentRuns runs ever execute at once.
   */
  get executingCount(): number {
    let n = 0;
    for (const a of this.active.values()) if (!a.parked) n++;
    return n;
  }

  /** Runs parked at an approval on this instance. */
  get parkedCount(): number {
    return this.active.size - this.executingCount;
  }

  isActive(runId: string): boolean {
    return this.active.has(runId);
  }

  /** Asks the scheduler to look for work now. */
  wake(): void {
    if (!this.accepting) return;
    this.wakes++;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    // On the next turn: the wake-ups of a burst (one `run.queued` per message, a group commit's
    // worth in one tick) are counted first, and the first round claims that many at once.
    setImmediate(() => {
      void this.pump().finally(() => {
        this.pumping = false;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.wake();
        }
      });
    });
  }

  private async pump(): Promise<void> {
    this.grant();
    let batch = 1;
    while (this.accepting && this.resuming.length === 0) {
      // A burst is claimed in rounds of claims issued together, not one claim (one store write,
      // one fsync) after another: SQLite's group commit puts a round in one transaction, each claim
      // in its own savepoint, so N runs cost about log2(N) + N/MAX_CLAIM_ROUND flushes instead of
      // N; PostgreSQL runs them concurrently (claim_next_run_fair skips locked rows). The round
      // starts at the number of wake-ups since the last round (about the runs queued meanwhile) and
      // doubles while every claim finds a run, so an idle wake-up still costs one query.
      batch = Math.min(MAX_CLAIM_ROUND, Math.max(batch, this.wakes));
      this.wakes = 0;
      const round: Array<Promise<ClaimResult>> = [];
      let held: HoldReason | undefined;
      while (round.length < batch) {
        if (this.executingCount + this.claiming >= this.config.maxConcurrentRuns) {
          held = 'concurrency';
          break;
        }
        // Only engines whose next run fits in memory (undefined: any); none fits: the queue waits.
        // Each claim in flight holds its reservation already, so the next one sees it.
        const engines = this.admission.admit();
        if (engines?.length === 0) {
          held = 'memory';
          break;
        }
        round.push(this.claimOne(engines));
      }
      if (round.length === 0) return this.hold(held);
      const results = await Promise.all(round);
      if (results.includes('failed')) return;
      const empty = results.find((r) => r !== 'failed' && r !== 'claimed');
      // Memory held back some engines' runs: whatever is left in the queue waits for memory.
      if (empty) return this.hold(empty.engines ? 'memory' : undefined);
      batch = Math.min(MAX_CLAIM_ROUND, batch * 2);
    }
  }

  /**
   * One claim of a round; the run is launched as soon as it is claimed. While in flight it counts
   * as a slot taken and holds a memory reservation of its own (moved to the run once claimed).
   */
  private async claimOne(engines: EngineName[] | undefined): Promise<ClaimResult> {
    const key = `claim:${++this.claimSeq}`;
    this.claiming++;
    this.admission.claimed(key, engines);
    let run: RunRecord | undefined;
    try {
      run = await this.store.claimNextRun(this.workerId, this.config.leaseMs, {
        maxRunsPerKey: this.config.maxRunsPerKey,
        ...(engines ? { engines } : {}),
      });
    } catch (err) {
      this.logger.error('claim failed', { err });
      return 'failed';
    } finally {
      this.claiming--;
      this.admission.ended(key);
    }
    if (!run) return { engines };
    if (!this.accepting) {
      // Claimed after a drain began (a round's claims resolve after it): nothing of it has started,
      // so it goes back to the queue as it was (a failure leaves its lease to expire).
      await this.store
        .requeueRun(run.id)
        .catch((err) =>
          this.logger.warn('re-queue of a run claimed during a drain failed', { runId: run.id, err }),
        );
      return 'claimed';
    }
    this.admission.claimed(run.id, engines);
    this.launch(run);
    return 'claimed';
  }

  /** Remembers why claiming stopped (reported by /health and the `agent_runs_held` gauge). */
  private hold(reason: HoldReason | undefined): void {
    const was = this.holding;
    this.holding = reason;
    if (reason !== 'memory') return;
    void this.store.countRuns('queued').then(
      (queued) => {
        this.metrics.runsHeld.set({ reason: 'memory' }, queued);
        if (queued > 0 && was !== 'memory')
          this.logger.warn('queued runs held: not enough free memory for another run', {
            queued,
            ...this.admission.status(),
          });
      },
      () => {},
    );
  }

  /** The queue as this instance sees it, and why it is not taking more (for /health). */
  async queueStatus(): Promise<QueueStatus> {
    const queued = await this.store.countRuns('queued');
    const held = queued > 0 ? this.currentHold() : undefined;
    return {
      queued,
      active: this.executingCount,
      maxConcurrentRuns: this.config.maxConcurrentRuns,
      ...(held ? { held } : {}),
      memory: this.admission.status(),
    };
  }

  /** Why queued work is not started here: every slot busy, or memory held it at the last claim. */
  private currentHold(): HoldReason | undefined {
    if (this.executingCount >= this.config.maxConcurrentRuns) return 'concurrency';
    return this.holding === 'memory' ? 'memory' : undefined;
  }

  private launch(run: RunRecord): void {
    const controller = new AbortController();
    const entry: Active = { run, controller, done: Promise.resolve() };
    this.active.set(run.id, entry);
    this.metrics.runsActive.set(this.active.size);
    let deadline: Timer | undefined;
    const arm = (at: number | undefined) => {
      if (at === undefined || !Number.isFinite(at) || !this.active.has(run.id)) return;
      deadline = this.clock.setTimeout(
        () => this.stop(run.id, 'timeout'),
        Math.max(0, at - this.clock.now()),
      );
    };
    if (run.deadlineAt) arm(Date.parse(run.deadlineAt));
    else if (this.deadlineFor)
      this.deadlineFor(run).then(arm, (err) =>
        this.logger.warn('deadline lookup failed', { runId: run.id, err }),
      );
    entry.done = this.executor
      .execute(
        run,
        controller.signal,
        () => entry.stopReason,
        (reason) => this.stop(run.id, reason),
        this.slotOf(entry),
      )
      .catch((err) => this.logger.error('run executor crashed', { runId: run.id, err }))
      .finally(() => {
        deadline?.cancel();
        this.admission.ended(run.id);
        this.active.delete(run.id);
        this.resuming = this.resuming.filter((r) => r.runId !== run.id);
        this.metrics.runsActive.set(this.active.size);
        this.wake();
      });
  }

  /** How a run tells the scheduler it waits for people, and asks to go on. */
  private slotOf(entry: Active): RunSlot {
    return {
      engine: (name) => {
        if (this.admission.started(entry.run.id, name) && this.holding === 'memory') this.wake();
      },
      park: () => {
        if (entry.parked) return;
        entry.parked = true;
        // Nobody can decide during a drain's grace period: the run is re-queued now, not at its end.
        if (!this.accepting) this.stop(entry.run.id, 'drain');
        this.wake();
      },
      resume: (signal) =>
        new Promise<void>((resolve) => {
          if (!entry.parked || signal.aborted) return resolve();
          const onAbort = () => {
            this.resuming = this.resuming.filter((r) => r.runId !== entry.run.id);
            resolve();
          };
          signal.addEventListener('abort', onAbort, { once: true });
          this.resuming.push({
            runId: entry.run.id,
            go: () => {
              signal.removeEventListener('abort', onAbort);
              entry.parked = false;
              resolve();
            },
          });
          this.grant();
        }),
    };
  }

  /** Parked runs whose approvals were decided go on, in order, while slots are free. */
  private grant(): void {
    while (this.resuming.length > 0 && this.executingCount < this.config.maxConcurrentRuns) {
      this.resuming.shift()!.go();
    }
  }

  /** Resolves when no run of the session is active on this instance (bounded wait). */
  async waitFor(sessionId: string, timeoutMs = 15_000): Promise<void> {
    const runs = [...this.active.values()].filter((a) => a.run.sessionId === sessionId).map((a) => a.done);
    if (runs.length === 0) return;
    let timer: Timer | undefined;
    await Promise.race([
      Promise.all(runs),
      new Promise((r) => (timer = this.clock.setTimeout(() => r(undefined), timeoutMs))),
    ]);
    timer?.cancel();
  }

  /** Stops an active run on this instance; returns false when it is not running here. */
  stop(runId: string, reason: StopReason): boolean {
    const a = this.active.get(runId);
    if (!a) return false;
    a.stopReason ??= reason;
    a.controller.abort(new Error(reason));
    return true;
  }

  private async heartbeat(): Promise<void> {
    if (this.active.size === 0) return;
    const ids = [...this.active.keys()];
    try {
      await this.store.renewLeases(this.workerId, ids, this.config.leaseMs);
      // Cancellation requested through another instance reaches us through the store (one query
      // for all of them: 1,000 runs were 1,000 round trips every beat on PostgreSQL).
      const found = new Map((await this.store.getRuns(ids)).map((r) => [r.id, r]));
      for (const id of ids) {
        const run = found.get(id);
        if (!run) this.stop(id, 'cancel');
        else if (run.cancelRequested) this.stop(id, 'cancel');
        else if (run.workerId !== this.workerId) this.stop(id, 'lease_lost');
      }
    } catch (err) {
      this.logger.warn('heartbeat failed', { err });
    }
  }

  private async sweep(): Promise<void> {
    await this.recover(new Date(this.clock.now()).toISOString());
    try {
      const by = await this.store.countQueuedByPriority();
      let queued = 0;
      this.metrics.queueDepthByPriority.reset();
      for (const [priority, n] of by) {
        queued += n;
        this.metrics.queueDepthByPriority.set({ priority: priorityName(priority) }, n);
      }
      this.metrics.queueDepth.set(queued);
      const held = queued > 0 ? this.currentHold() : undefined;
      for (const reason of ['memory', 'concurrency'] as const)
        this.metrics.runsHeld.set({ reason }, held === reason ? queued : 0);
    } catch (err) {
      this.logger.warn('queue depth probe failed', { err });
    }
  }

  private async recover(now: string): Promise<void> {
    try {
      // A run that dies waiting for approval: its approvals are denied (by restart) before it is
      // re-queued, so none outlives the process that asked (docs/api.md §10).
      this.eventLog.publish(await this.store.resolveOrphanedApprovals(now));
      const runs = await this.store.requeueExpiredRuns(now);
      for (const run of runs) {
        this.logger.warn('re-queued run of a dead worker', {
          runId: run.id,
          sessionId: run.sessionId,
          attempts: run.attempts,
        });
        await this.eventLog.append(run.sessionId, {
          runId: run.id,
          type: 'run.queued',
          data: { attempt: run.attempts + 1, reason: 'worker_lost' },
        });
        await this.lifecycle.emit('run.requeued', { run, reason: 'worker_lost' });
      }
      if (runs.length > 0) this.wake();
    } catch (err) {
      this.logger.error('recovery sweep failed', { err });
    }
  }

  /**
   * SIGTERM: stop claiming, let active runs finish for up to `graceMs`, then stop the rest so
   * they are re-queued (another instance, or this one after restart, runs them again).
   */
  async drain(graceMs: number): Promise<void> {
    this.accepting = false;
    // Runs waiting for people cannot finish in the grace period: re-queued now.
    for (const [id, a] of this.active) if (a.parked) this.stop(id, 'drain');
    for (const t of this.timers) t.cancel();
    this.timers = [];
    const all = () => Promise.all([...this.active.values()].map((a) => a.done));
    if (this.active.size > 0) {
      let timer: Timer | undefined;
      const graceOver = new Promise<'timeout'>((r) => {
        timer = this.clock.setTimeout(() => r('timeout'), graceMs);
      });
      const result = await Promise.race([all().then(() => 'done' as const), graceOver]);
      timer?.cancel();
      if (result === 'timeout') {
        this.logger.warn('grace period over: stopping active runs for re-queue', { count: this.active.size });
        for (const id of this.active.keys()) this.stop(id, 'drain');
        await all();
      }
    }
  }
}
