// A burst of queued runs: the scheduler claims them in rounds of claims issued together (they
// share one SQLite group commit instead of one flush per run), and a round never takes more than
// the free slots or the memory admits — claims in flight count as taken. Real SQLite, the real
// executor, a scripted engine, a manual clock.
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/types.ts';
import { until } from '../helpers/sleep.ts';
import { type Harness, makeHarness } from './harness.ts';

const MB = 1024 * 1024;
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Counts the claims the store is asked for at the same time (the largest round seen). */
function countClaims(store: Store): { calls: number; maxInFlight: number } {
  const seen = { calls: 0, maxInFlight: 0 };
  let inFlight = 0;
  const claim = store.claimNextRun.bind(store);
  store.claimNextRun = async (...args) => {
    seen.calls++;
    seen.maxInFlight = Math.max(seen.maxInFlight, ++inFlight);
    try {
      return await claim(...args);
    } finally {
      inFlight--;
    }
  };
  return seen;
}

async function queue(h: Harness, n: number, wait?: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    await h.session(`s${i}`);
    await h.run(`r${i}`, `s${i}`);
    if (wait) h.engine.script(`r${i}`, [{ wait }]);
  }
}

describe('Scheduler: bursts', () => {
  it('claims a burst in rounds of concurrent claims, far fewer rounds than runs', async () => {
    h = await makeHarness({ MAX_CONCURRENT_RUNS: '1000' });
    const claims = countClaims(h.store);
    await queue(h, 100, 'go');
    await h.scheduler().start();
    await until(() => h!.engine.active === 100, 'every run in the engine');
    // One at a time would be 100 claims with at most one in flight (one flush each).
    expect(claims.maxInFlight).toBeGreaterThanOrEqual(16);
    expect(claims.calls).toBeLessThan(100 + 33); // the last round finds the queue empty
    h.engine.release('go');
    await until(async () => (await h!.store.countRuns('completed')) === 100, 'all runs done');
  });

  it('a round never claims past MAX_CONCURRENT_RUNS: claims in flight count as slots taken', async () => {
    h = await makeHarness({ MAX_CONCURRENT_RUNS: '13' });
    const claims = countClaims(h.store);
    await queue(h, 40, 'go');
    const scheduler = h.scheduler();
    await scheduler.start();
    await until(() => h!.engine.active === 13, 'thirteen runs in the engine');
    await h.clock.advance(4_000); // polls find work but no free slot
    expect(h.engine.calls).toHaveLength(13);
    expect(await h.store.countRuns('running')).toBe(13);
    expect(await h.store.countRuns('queued')).toBe(27);
    expect(claims.maxInFlight).toBeLessThanOrEqual(13);
    h.engine.release('go');
    await until(async () => (await h!.store.countRuns('completed')) === 40, 'all runs done');
    expect(h.engine.maxConcurrent).toBe(13);
  });

  it('a round never claims past the memory: each claim in flight holds its reservation', async () => {
    h = await makeHarness({
      MAX_CONCURRENT_RUNS: '100',
      RUN_MEMORY_ESTIMATE_NATIVE_MB: '100',
      RUN_MEMORY_ESTIMATE_CLAUDE_MB: '100',
      RUN_MEMORY_RESERVE_MB: '100',
    });
    const scheduler = h.scheduler('test', { memoryProbe: () => 650 * MB }); // room for five runs
    await queue(h, 12, 'go');
    await scheduler.start();
    await until(() => h!.engine.active === 5, 'five runs in the engine');
    await h.clock.advance(2_000);
    expect(h.engine.calls).toHaveLength(5);
    expect(await h.store.countRuns('running')).toBe(5);
    expect((await scheduler.queueStatus()).held).toBe('memory');
    h.engine.release('go');
  });

  it("a native run's reservation narrows from the largest engine's as soon as its session is read", async () => {
    // Room for one claude-code-sized reservation (a claim does not know its engine) plus a native
    // one. The runs' start is held before `run.started` (their session's status write waits):
    // narrowing only at run.started would keep the third run queued until then.
    h = await makeHarness({
      MAX_CONCURRENT_RUNS: '100',
      RUN_MEMORY_ESTIMATE_NATIVE_MB: '10',
      RUN_MEMORY_ESTIMATE_CLAUDE_MB: '240',
      RUN_MEMORY_RESERVE_MB: '100',
    });
    let open: () => void = () => {};
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const update = h.store.updateSession.bind(h.store);
    h.store.updateSession = async (id, patch) => {
      if (patch.status === 'running') await gate;
      return update(id, patch);
    };
    const scheduler = h.scheduler('test', { memoryProbe: () => 355 * MB });
    await queue(h, 3, 'go');
    await scheduler.start();
    await until(async () => (await h!.store.countRuns('running')) === 3, 'three runs claimed');
    expect((await scheduler.queueStatus()).memory.reservedBytes).toBe(30 * MB);
    expect(h.engine.calls).toHaveLength(0); // none has started yet
    open();
    await until(() => h!.engine.active === 3, 'three runs in the engine');
    h.engine.release('go');
  });

  it('a claim that resolves after a drain began puts its run back in the queue', async () => {
    h = await makeHarness();
    let open: () => void = () => {};
    const gate = new Promise<void>((r) => {
      open = r;
    });
    let asked = false;
    const claim = h.store.claimNextRun.bind(h.store);
    h.store.claimNextRun = async (...args) => {
      asked = true;
      await gate;
      return claim(...args);
    };
    await queue(h, 1);
    const scheduler = h.scheduler();
    await scheduler.start();
    await until(() => asked, 'the claim in flight');
    const drained = scheduler.drain(0);
    await h.clock.advance(0);
    open();
    await drained;
    await until(async () => (await h!.store.getRun('r0'))?.status === 'queued', 'the run back in the queue');
    await until(() => scheduler.activeCount === 0, 'nothing left active');
    expect(h.engine.calls).toHaveLength(0);
  });
});
