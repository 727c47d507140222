// The run engine's parts wired as in src/runtime.ts, on a real SQLite store (in memory: every
// test gets a fresh one) and a real workspace directory, with a scripted engine and a manual clock.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Config, loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { createMetrics, type Metrics } from '../../src/observability/metrics.ts';
import type { Event, EventType } from '../../src/protocol/index.ts';
import { EventLog } from '../../src/runs/event-log.ts';
import { RunExecutor } from '../../src/runs/executor.ts';
import { Lifecycle, type RunOutcome } from '../../src/runs/lifecycle.ts';
import { Scheduler } from '../../src/runs/scheduler.ts';
import { WorkspacePreparer } from '../../src/runs/workspace-preparer.ts';
import { noSandbox } from '../../src/sandbox/types.ts';
import { WorkspaceManager } from '../../src/sandbox/workspace/manager.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import type { NewRun, NewSession, RunRecord } from '../../src/store/types.ts';
import { ManualClock } from '../helpers/clock.ts';
import { ScriptedEngine } from '../helpers/scripted-engine.ts';
import { newRun, newSession } from '../store/fixtures/records.ts';

type SchedulerOptions = ConstructorParameters<typeof Scheduler>[0];

export const TERMINAL_TYPES: ReadonlySet<EventType> = new Set([
  'run.completed',
  'run.failed',
  'run.cancelled',
]);

/** What the lifecycle bus announced about runs, in order. */
export type HookCall =
  | { hook: 'started'; runId: string }
  | { hook: 'finished'; runId: string; outcome: RunOutcome }
  | { hook: 'requeued'; runId: string; reason: string };

export interface Harness {
  dir: string;
  config: Config;
  store: SqliteStore;
  eventLog: EventLog;
  engine: ScriptedEngine;
  /** A scripted `claude-code` engine: present only with `makeHarness(env, { claudeCode: true })`. */
  ccEngine: ScriptedEngine;
  clock: ManualClock;
  executor: RunExecutor;
  lifecycle: Lifecycle;
  /** The metrics every scheduler of the harness records into. */
  metrics: Metrics;
  hookCalls: HookCall[];
  /** A session (engine `native`, the scripted one). */
  session(id: string, extra?: Partial<NewSession>): Promise<void>;
  /** A queued run; its input is its id unless given. */
  run(id: string, sessionId: string, extra?: Partial<NewRun>): Promise<RunRecord>;
  /**
   * A scheduler on this harness: instance `id` (two of them get different worker ids), the
   * harness clock unless another is given (a scheduler whose clock stands still has stalled).
   */
  scheduler(
    id?: string,
    opts?: {
      clock?: ManualClock;
      deadlineFor?: SchedulerOptions['deadlineFor'];
      memoryProbe?: SchedulerOptions['memoryProbe'];
    },
  ): Scheduler;
  /** The session's stored events. */
  events(sessionId: string): Promise<Event[]>;
  /** The run's stored terminal events (run.completed / run.failed / run.cancelled). */
  terminals(sessionId: string, runId: string): Promise<Event[]>;
  close(): Promise<void>;
}

export async function makeHarness(
  env: Record<string, string> = {},
  opts: { claudeCode?: boolean } = {},
): Promise<Harness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'run-engine-'));
  const config = loadConfig({
    DATA_DIR: dir,
    SANDBOX: 'none',
    AGENT_ENGINE: 'native',
    INSTANCE_ID: 'test',
    MAX_CONCURRENT_RUNS: '4',
    RUN_LEASE_MS: '10000',
    LOG_LEVEL: 'error',
    ...env,
  });
  const clock = new ManualClock();
  const store = new SqliteStore(':memory:', { now: clock.now });
  await store.migrate();
  const eventLog = new EventLog({ store, logger: silentLogger });
  const engine = new ScriptedEngine();
  const ccEngine = new ScriptedEngine({ name: 'claude-code' });
  const metrics = createMetrics();
  const hookCalls: HookCall[] = [];
  const lifecycle = new Lifecycle(silentLogger);
  lifecycle.on('run.started', ({ run }) => void hookCalls.push({ hook: 'started', runId: run.id }));
  lifecycle.on(
    'run.finished',
    ({ run, outcome }) => void hookCalls.push({ hook: 'finished', runId: run.id, outcome }),
  );
  lifecycle.on(
    'run.requeued',
    ({ run, reason }) => void hookCalls.push({ hook: 'requeued', runId: run.id, reason }),
  );
  const executor = new RunExecutor({
    store,
    config,
    logger: silentLogger,
    lifecycle,
    eventLog,
    engines: opts.claudeCode ? { native: engine, 'claude-code': ccEngine } : { native: engine },
    tools: () => [],
    workspaces: new WorkspacePreparer({
      config,
      store,
      manager: new WorkspaceManager(dir, { identities: null }),
      sandbox: noSandbox,
      eventLog,
    }),
    clock,
  });
  const schedulers: Array<{ scheduler: Scheduler; clock: ManualClock }> = [];
  const events = async (sessionId: string) => store.listEvents(sessionId, 0, 100_000);
  return {
    dir,
    config,
    store,
    eventLog,
    engine,
    ccEngine,
    clock,
    executor,
    lifecycle,
    metrics,
    hookCalls,
    async session(id, extra = {}) {
      await store.createSession(newSession(id, extra));
    },
    run: (id, sessionId, extra = {}) => store.createRun(newRun(id, sessionId, { input: id, ...extra })),
    scheduler(id = 'test', opts = {}) {
      const own = opts.clock ?? clock;
      const scheduler = new Scheduler({
        store,
        config: { ...config, instanceId: id },
        logger: silentLogger,
        metrics,
        eventLog,
        executor,
        lifecycle,
        clock: own,
        ...(opts.deadlineFor ? { deadlineFor: opts.deadlineFor } : {}),
        ...(opts.memoryProbe ? { memoryProbe: opts.memoryProbe } : {}),
      });
      scheduler.listen();
      schedulers.push({ scheduler, clock: own });
      return scheduler;
    },
    events,
    async terminals(sessionId, runId) {
      return (await events(sessionId)).filter((e) => e.runId === runId && TERMINAL_TYPES.has(e.type));
    },
    async close() {
      // Whatever is still running is stopped (drain with no grace), so nothing outlives the store.
      for (const s of schedulers) {
        const drained = s.scheduler.drain(0);
        await s.clock.advance(0); // the (zero) grace period is on the scheduler's clock
        await drained;
      }
      await eventLog.flush();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
