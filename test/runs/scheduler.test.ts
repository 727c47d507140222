// Scheduler at its own API: what it claims and when (priority, then FIFO; one run per session; at
// most MAX_CONCURRENT_RUNS), and how a run's worker is replaced — a lease not renewed expires and
// the run is re-queued (not before), a live worker keeps its runs, a stalled one loses them and
// stops without recording an outcome; cancel, deadline and drain stop runs. All time is a manual
// clock shared by the store (leases are written with it) and the schedulers (heartbeats, sweeps,
// deadlines and the drain grace fire on it), so an hour of leases passes in milliseconds.
// Real SQLite, the real executor, a scripted engine.
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.ts';
import { WorkflowService } from '../../src/runs/workflows.ts';
import { noSandbox } from '../../src/sandbox/types.ts';
import { WorkspaceManager } from '../../src/sandbox/workspace/manager.ts';
import type { RunStatus } from '../../src/store/types.ts';
import { ManualClock } from '../helpers/clock.ts';
import { until } from '../helpers/sleep.ts';
import { newRun, newSession, newWorkflow } from '../store/fixtures/records.ts';
import { type Harness, makeHarness, TERMINAL_TYPES } from './harness.ts';

/** RUN_LEASE_MS of these tests: heartbeat every 3,333 ms, sweep every 5,000 ms, poll every 2,000 ms. */
const LEASE = 10_000;

let h: Harness | undefined;
async function harness(env: Record<string, string> = {}): Promise<Harness> {
  h = await makeHarness({ RUN_LEASE_MS: String(LEASE), ...env });
  return h;
}
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const statusOf = async (h: Harness, runId: string) => (await h.store.getRun(runId))?.status;
/**
 * Waits for the run's status — and, for an outcome, for its terminal event, which the executor
 * stores right AFTER the run's row (a crash between the two is repaired by the reconciler).
 */
const untilStatus = (h: Harness, runId: string, status: RunStatus) =>
  until(async () => {
    const run = await h.store.getRun(runId);
    if (run?.status !== status) return false;
    if (status === 'queued' || status === 'running') return true;
    return (await h.terminals(run.sessionId, runId)).length > 0;
  }, `${runId} ${status}`);
const eventTypes = async (h: Harness, sessionId: string) => (await h.events(sessionId)).map((e) => e.type);

describe('Scheduler: what it claims', () => {
  it('the highest priority first, FIFO within a priority', async () => {
    const h = await harness({ MAX_CONCURRENT_RUNS: '1' });
    const queue = [
      ['a', 1],
      ['b', 2],
      ['c', 1],
      ['d', 2],
      ['e', 0],
      ['f', 1],
    ] as const;
    for (const [id, priority] of queue) {
      await h.session(`s_${id}`);
      await h.run(id, `s_${id}`, { priority });
    }
    await h.scheduler().start();
    await until(async () => (await h.store.countRuns('completed')) === queue.length, 'all runs done');
    expect(h.engine.inputs).toEqual(['b', 'd', 'a', 'c', 'f', 'e']);
    expect(h.engine.maxConcurrent).toBe(1);
  });

  it('one run per session: the second waits for the first, other sessions do not', async () => {
    const h = await harness();
    await h.session('s');
    await h.session('t');
    await h.run('s1', 's');
    await h.run('s2', 's');
    await h.run('t1', 't');
    h.engine.script('s1', [{ wait: 'finish-s1' }]);
    const scheduler = h.scheduler();
    await scheduler.start();
    await h.engine.started('s1');
    await untilStatus(h, 't1', 'completed');
    await h.clock.advance(2_000); // a poll: the scheduler looks for work again
    expect([...h.engine.inputs].sort()).toEqual(['s1', 't1']); // both claimed at once: either may start first
    expect(await statusOf(h, 's2')).toBe('queued');

    h.engine.release('finish-s1');
    await untilStatus(h, 's2', 'completed');
    const events = await h.events('s');
    const s1Done = events.find((e) => e.runId === 's1' && e.type === 'run.completed')!;
    const s2Started = events.find((e) => e.runId === 's2' && e.type === 'run.started')!;
    expect(s2Started.seq).toBeGreaterThan(s1Done.seq);
  });

  it('never more than MAX_CONCURRENT_RUNS at once on the instance', async () => {
    const h = await harness({ MAX_CONCURRENT_RUNS: '2' });
    for (let i = 0; i < 5; i++) {
      await h.session(`s${i}`);
      await h.run(`r${i}`, `s${i}`);
      h.engine.script(`r${i}`, [{ wait: 'go' }]);
    }
    const scheduler = h.scheduler();
    await scheduler.start();
    await until(() => h.engine.active === 2, 'two runs in the engine');
    await h.clock.advance(4_000); // polls find work but no free slot
    expect(h.engine.calls).toHaveLength(2);
    expect(scheduler.activeCount).toBe(2);
    expect(await h.store.countRuns('running')).toBe(2);
    expect(await h.store.countRuns('queued')).toBe(3);

    h.engine.release('go');
    await until(async () => (await h.store.countRuns('completed')) === 5, 'all runs done');
    expect(h.engine.maxConcurrent).toBe(2);
    await until(() => scheduler.activeCount === 0, 'the last run to leave the scheduler');
  });
});

describe('Scheduler: leases', () => {
  it('a run whose worker died (lease never renewed) is re-queued once the lease has expired, not before', async () => {
    const h = await harness();
    const scheduler = h.scheduler();
    await scheduler.start();
    await h.session('s1');
    await h.run('r1', 's1');
    // Claimed by a worker that then died: nobody renews its lease.
    expect((await h.store.claimNextRun('dead-worker', LEASE))?.id).toBe('r1');

    await h.clock.advance(LEASE - 1); // sweeps at +5 s: the lease still holds
    expect(await h.store.getRun('r1')).toMatchObject({ status: 'running', workerId: 'dead-worker' });
    expect(h.engine.calls).toHaveLength(0);

    await h.clock.advance(5_001); // the sweep at +15 s finds it expired
    await untilStatus(h, 'r1', 'completed');
    expect(await eventTypes(h, 's1')).toEqual(['run.queued', 'run.started', 'run.completed']);
    const [queued, started] = await h.events('s1');
    expect(queued!.data).toEqual({ attempt: 2, reason: 'worker_lost' });
    expect(started!.data).toMatchObject({ attempt: 2 });
    expect(h.hookCalls[0]).toEqual({ hook: 'requeued', runId: 'r1', reason: 'worker_lost' });
  });

  it('on start (SQLite: one process), runs left running by the previous process are re-queued at once', async () => {
    const h = await harness();
    await h.session('s1');
    await h.run('r1', 's1');
    await h.store.claimNextRun('previous-process', LEASE); // its lease has not expired yet
    await h.scheduler().start();
    await untilStatus(h, 'r1', 'completed');
    expect(await eventTypes(h, 's1')).toEqual(['run.queued', 'run.started', 'run.completed']);
    expect((await h.store.getRun('r1'))?.attempts).toBe(2);
  });

  it('a live worker keeps its run: heartbeats renew the lease while ten lease periods pass', async () => {
    const h = await harness();
    const a = h.scheduler('a');
    const b = h.scheduler('b'); // another instance sweeping for expired leases
    await a.start();
    await b.start();
    await h.session('s1');
    await h.run('r1', 's1');
    h.engine.script('r1', [{ block: true }]);
    a.wake();
    await h.engine.started('r1');

    await h.clock.advance(10 * LEASE);
    expect(await h.store.getRun('r1')).toMatchObject({
      status: 'running',
      workerId: a.workerId,
      attempts: 1,
    });
    expect(h.engine.calls).toHaveLength(1);
    expect(await eventTypes(h, 's1')).toEqual(['run.started']);
    expect(a.isActive('r1')).toBe(true);
    expect(b.isActive('r1')).toBe(false);
  });

  it('a stalled worker loses its run to another; it then stops without recording an outcome', async () => {
    const h = await harness();
    const stalled = new ManualClock(h.clock.now()); // a's timers: they stand still while a hangs
    const a = h.scheduler('a', { clock: stalled });
    const b = h.scheduler('b');
    await a.start();
    await b.start();
    await h.session('s1');
    await h.run('r1', 's1');
    h.engine.script('r1', [{ block: true }]);
    a.wake();
    await h.engine.started('r1');
    h.engine.script('r1', []); // the next attempt completes

    // a renews nothing; b's sweep finds the lease expired, re-queues the run and runs it.
    await h.clock.advance(LEASE + 5_000);
    await untilStatus(h, 'r1', 'completed');
    expect((await h.store.getRun('r1'))?.workerId).toBe(b.workerId);
    expect(a.isActive('r1')).toBe(true); // a does not know yet

    // a wakes up: its next heartbeat sees the run is no longer its own and stops it.
    await stalled.advance(LEASE / 3 + 1);
    await until(() => !a.isActive('r1'), 'a to let go');
    expect(h.engine.calls.map((c) => c.end)).toEqual(['threw', 'returned']);
    expect(await eventTypes(h, 's1')).toEqual(['run.started', 'run.queued', 'run.started', 'run.completed']);
    expect(await h.terminals('s1', 'r1')).toHaveLength(1);
    expect(await h.store.getRun('r1')).toMatchObject({ status: 'completed', attempts: 2 });
    expect(h.hookCalls.filter((c) => c.hook === 'finished')).toHaveLength(1);
  });
});

describe('Scheduler: stopping runs', () => {
  it('cancel: on this instance at once, and from another instance (through the store) at the next heartbeat', async () => {
    const h = await harness();
    const scheduler = h.scheduler();
    await scheduler.start();
    for (const id of ['r1', 'r2']) {
      await h.session(`s_${id}`);
      await h.run(id, `s_${id}`);
      h.engine.script(id, [{ block: true }]);
    }
    scheduler.wake();
    await h.engine.started('r1');
    await h.engine.started('r2');

    expect(scheduler.stop('r1', 'cancel')).toBe(true);
    await untilStatus(h, 'r1', 'cancelled');
    expect(await eventTypes(h, 's_r1')).toEqual(['run.started', 'run.cancelled']);
    expect(scheduler.stop('nope', 'cancel')).toBe(false);

    await h.store.requestCancel('r2'); // what another instance's DELETE does
    expect(await statusOf(h, 'r2')).toBe('running');
    await h.clock.advance(LEASE / 3 + 1);
    await untilStatus(h, 'r2', 'cancelled');
    expect((await h.terminals('s_r2', 'r2')).map((e) => e.type)).toEqual(['run.cancelled']);
  });

  it('a deadline: the run is stopped when the clock reaches it and fails with `timeout`', async () => {
    const h = await harness();
    await h.session('s1');
    await h.run('r1', 's1', { deadlineAt: new Date(h.clock.now() + 60_000).toISOString() });
    h.engine.script('r1', [{ block: true }]);
    await h.scheduler().start();
    await h.engine.started('r1');
    await h.clock.advance(59_999);
    expect(await statusOf(h, 'r1')).toBe('running');
    await h.clock.advance(1);
    await untilStatus(h, 'r1', 'failed');
    expect((await h.store.getRun('r1'))?.error?.code).toBe('timeout');
    expect((await h.terminals('s1', 'r1')).map((e) => e.type)).toEqual(['run.failed']);
  });

  it("a workflow's timeout counts from its run's first start, by the clock", async () => {
    const h = await harness();
    const workflows = new WorkflowService({
      store: h.store,
      config: h.config,
      logger: silentLogger,
      eventLog: h.eventLog,
      lifecycle: h.lifecycle,
      workspaces: new WorkspaceManager(h.dir),
      sandbox: noSandbox,
    });
    const w = newWorkflow('wf1', { timeoutMs: 30_000 });
    await h.store.createWorkflow(
      w,
      newSession(w.sessionId, { workflowId: w.id }),
      newRun(w.runId, w.sessionId, { workflowId: w.id, input: 'wf1' }),
      [],
    );
    h.engine.script('wf1', [{ block: true }]);
    await h.scheduler('t', { deadlineFor: (run) => workflows.timeoutFor(run) }).start();
    await h.engine.started('wf1');
    await h.clock.advance(29_999);
    expect(await statusOf(h, w.runId)).toBe('running');
    await h.clock.advance(1);
    await untilStatus(h, w.runId, 'failed');
    expect((await h.store.getRun(w.runId))?.error?.code).toBe('timeout');
  });

  it('drain: stops claiming; a run that ends within the grace period completes', async () => {
    const h = await harness();
    const scheduler = h.scheduler();
    await scheduler.start();
    await h.session('s1');
    await h.run('r1', 's1');
    h.engine.script('r1', [{ wait: 'finish' }]);
    scheduler.wake();
    await h.engine.started('r1');
    const drained = scheduler.drain(10_000);
    await h.session('s2');
    await h.run('r2', 's2');
    scheduler.wake(); // no new claims while draining
    h.engine.release('finish');
    await drained;
    expect(await statusOf(h, 'r1')).toBe('completed');
    expect(await eventTypes(h, 's1')).toEqual(['run.started', 'run.completed']);
    expect(await statusOf(h, 'r2')).toBe('queued');
    expect(h.engine.inputs).toEqual(['r1']);
  });

  it('drain: a run still going when the grace period ends is re-queued, and runs again after restart', async () => {
    const h = await harness();
    const scheduler = h.scheduler();
    await scheduler.start();
    await h.session('s1');
    await h.run('r1', 's1');
    h.engine.script('r1', [{ block: true }]);
    scheduler.wake();
    await h.engine.started('r1');
    let drainedAt: number | undefined;
    const drained = scheduler.drain(10_000).then(() => {
      drainedAt = h.clock.now();
    });
    await h.clock.advance(9_999);
    expect(await statusOf(h, 'r1')).toBe('running');
    expect(drainedAt).toBeUndefined();
    await h.clock.advance(1);
    await drained;
    expect(drainedAt).toBe(h.clock.now());
    expect(await h.store.getRun('r1')).toMatchObject({ status: 'queued', attempts: 1 });
    expect(await eventTypes(h, 's1')).toEqual(['run.started', 'run.queued', 'session.notice']);
    expect(h.hookCalls.at(-1)).toEqual({ hook: 'requeued', runId: 'r1', reason: 'drain' });
    expect(h.clock.pending).toBe(0); // the drained scheduler left no timer behind

    h.engine.script('r1', []);
    await h.scheduler('after-restart').start();
    await untilStatus(h, 'r1', 'completed');
    const events = await h.events('s1');
    expect(events.filter((e) => TERMINAL_TYPES.has(e.type)).map((e) => e.type)).toEqual(['run.completed']);
    expect(events.filter((e) => e.type === 'run.started').map((e) => e.data.attempt)).toEqual([1, 2]);
  });
});
