// The scheduler's admission and fairness (docs/api.md §10): runs of different credentials take
// turns within a priority, MAX_RUNS_PER_KEY caps one credential's running runs, and a memory
// probe (injected) holds queued runs while the next run would not fit — reported by
// queueStatus() (/health) and the agent_runs_held gauge. Real SQLite, scripted engines, manual clock.
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryAdmission, PROBE_TTL_MS, WARMUP_MS } from '../../src/runs/admission.ts';
import { ManualClock } from '../helpers/clock.ts';
import { until } from '../helpers/sleep.ts';
import { type Harness, makeHarness } from './harness.ts';

const MB = 1024 * 1024;
let h: Harness;
afterEach(async () => {
  await h?.close();
});

const held = async (reason: string) =>
  new RegExp(`agent_runs_held\\{reason="${reason}"\\} (\\d+)`).exec(await h.metrics.render())?.[1];

describe('Scheduler: memory admission', () => {
  it('claims only while free memory minus the reserve covers the next run; reports why work waits', async () => {
    h = await makeHarness({
      RUN_MEMORY_ESTIMATE_NATIVE_MB: '100',
      RUN_MEMORY_ESTIMATE_CLAUDE_MB: '240',
      RUN_MEMORY_RESERVE_MB: '100',
    });
    let free = 150 * MB; // 50 MB above the reserve: not enough for a 100 MB run
    const scheduler = h.scheduler('test', { memoryProbe: () => free });
    for (const s of ['s1', 's2', 's3']) {
      await h.session(s);
      await h.run(`r_${s}`, s);
    }
    h.engine.script('r_s1', [{ wait: 'go' }]);
    h.engine.script('r_s2', [{ wait: 'go' }]);
    await scheduler.start();
    await h.clock.advance(2_000); // a poll: still nothing fits
    expect(h.engine.calls).toHaveLength(0);
    expect(await scheduler.queueStatus()).toMatchObject({
      queued: 3,
      active: 0,
      held: 'memory',
      memory: { availableBytes: 150 * MB, reserveBytes: 100 * MB, admits: [] },
    });
    await until(async () => (await held('memory')) === '3', 'the held gauge');

    // 350 MB: room for two 100 MB runs; the third waits because the first two have not grown yet
    free = 350 * MB;
    await h.clock.advance(2_000);
    await until(() => h.engine.active === 2, 'two runs started');
    await h.clock.advance(2_000);
    expect(h.engine.calls).toHaveLength(2);
    expect((await scheduler.queueStatus()).held).toBe('memory');

    // after the warm-up the probe is trusted again (here it still says 350 MB: the runs are small)
    await h.clock.advance(WARMUP_MS);
    await until(() => h.engine.calls.length === 3, 'the third run');
    h.engine.release('go');
    await until(async () => (await h.store.countRuns('completed')) === 3, 'all runs done');
    await h.clock.advance(15_000); // a sweep updates the gauges
    expect(await scheduler.queueStatus()).toMatchObject({ queued: 0 });
    expect('held' in (await scheduler.queueStatus())).toBe(false);
    await until(async () => (await held('memory')) === '0', 'the held gauge back to 0');
  });

  it('memory for a small run but not a claude-code one: native runs go, claude-code runs wait', async () => {
    h = await makeHarness(
      {
        RUN_MEMORY_ESTIMATE_NATIVE_MB: '10',
        RUN_MEMORY_ESTIMATE_CLAUDE_MB: '240',
        RUN_MEMORY_RESERVE_MB: '100',
      },
      { claudeCode: true },
    );
    let free = 200 * MB;
    const scheduler = h.scheduler('test', { memoryProbe: () => free });
    await h.session('cc', { engine: 'claude-code' });
    await h.run('big', 'cc', { priority: 2 }); // first in line
    await h.session('n');
    await h.run('small', 'n', { priority: 1 });
    await scheduler.start();
    await until(async () => (await h.store.countRuns('completed')) === 1, 'the native run');
    expect(h.engine.inputs).toEqual(['small']);
    expect(h.ccEngine.calls).toHaveLength(0);
    expect((await scheduler.queueStatus()).held).toBe('memory');

    free = 2_000 * MB;
    await h.clock.advance(2_000);
    await until(async () => (await h.store.countRuns('completed')) === 2, 'the claude-code run');
    expect(h.ccEngine.inputs).toEqual(['big']);
  });

  it('every slot busy is reported as concurrency', async () => {
    h = await makeHarness({ MAX_CONCURRENT_RUNS: '1' });
    const scheduler = h.scheduler();
    for (const s of ['s1', 's2']) {
      await h.session(s);
      await h.run(`r_${s}`, s);
    }
    h.engine.script('r_s1', [{ wait: 'go' }]);
    await scheduler.start();
    await h.engine.started('r_s1');
    expect(await scheduler.queueStatus()).toMatchObject({ queued: 1, active: 1, held: 'concurrency' });
    h.engine.release('go');
    await until(async () => (await h.store.countRuns('completed')) === 2, 'both runs');
  });
});

describe('Scheduler: fair queue', () => {
  it("key B's single run starts within one run slot's turnover although key A queued many first", async () => {
    h = await makeHarness({ MAX_CONCURRENT_RUNS: '2' });
    const scheduler = h.scheduler();
    for (let i = 0; i < 30; i++) {
      await h.session(`a${i}`);
      await h.run(`a${i}`, `a${i}`, { credential: 'key:a' });
      h.engine.script(`a${i}`, [{ wait: `a${i}` }]);
    }
    await scheduler.start();
    await until(() => h.engine.active === 2, 'two of A');
    await h.session('b0');
    await h.run('b0', 'b0', { credential: 'key:b' });
    h.engine.release('a0'); // one slot turns over
    await h.engine.started('b0');
    expect(h.engine.inputs.slice(0, 2).sort()).toEqual(['a0', 'a1']);
    expect(h.engine.inputs[2]).toBe('b0');
    for (let i = 1; i < 30; i++) h.engine.release(`a${i}`);
    await until(async () => (await h.store.countRuns('completed')) === 31, 'every run');
  });

  it('MAX_RUNS_PER_KEY: one key never holds more running runs than the cap; another key gets the free slots', async () => {
    h = await makeHarness({ MAX_CONCURRENT_RUNS: '4', MAX_RUNS_PER_KEY: '2' });
    const scheduler = h.scheduler();
    for (let i = 0; i < 5; i++) {
      await h.session(`a${i}`);
      await h.run(`a${i}`, `a${i}`, { credential: 'key:a' });
      h.engine.script(`a${i}`, [{ wait: 'go' }]);
    }
    await h.session('b0');
    await h.run('b0', 'b0', { credential: 'key:b' });
    h.engine.script('b0', [{ wait: 'go' }]);
    await scheduler.start();
    await until(() => h.engine.active === 3, 'three runs');
    await h.clock.advance(4_000); // polls: a free slot, but A is at its cap
    expect(h.engine.active).toBe(3);
    expect(h.engine.inputs.filter((i) => i.startsWith('a'))).toHaveLength(2);
    expect(h.engine.inputs).toContain('b0');
    h.engine.release('go');
    await until(async () => (await h.store.countRuns('completed')) === 6, 'every run');
    expect(h.engine.maxConcurrent).toBe(3);
  });
});

describe('MemoryAdmission: the probe', () => {
  it('one reading serves PROBE_TTL_MS (a burst of claims reads the cgroup files once); runs claimed meanwhile still count', async () => {
    const clock = new ManualClock(0);
    let reads = 0;
    let free = 1_000 * MB;
    const admission = new MemoryAdmission({
      config: { reserveBytes: 150 * MB, estimateBytes: { native: 100 * MB, 'claude-code': 400 * MB } },
      probe: () => {
        reads++;
        return free;
      },
      clock,
    });
    expect(admission.admit()).toBeUndefined();
    admission.claimed('r1', undefined); // 400 MB held back: 450 left above the reserve
    admission.claimed('r2', undefined); // 50 left: neither fits
    free = 5_000 * MB; // the probe would say more, but its reading is young
    expect(admission.admit()).toEqual([]);
    expect(admission.status().reservedBytes).toBe(800 * MB);
    expect(reads).toBe(1);
    await clock.set(PROBE_TTL_MS);
    expect(admission.admit()).toBeUndefined(); // read again: 5 GB
    expect(reads).toBe(2);
  });
});
