// /api/stats' arithmetic: the bounded observation ring (a window, overwritten observations and the
// coverage it reports), nearest-rank percentiles, and the recorder's summary per series — with a
// manual clock, so windows are exact.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { ResourceMonitor } from '../../src/observability/resources.ts';
import { buildStats, StatsRecorder } from '../../src/observability/stats.ts';
import { ObservationRing, percentiles } from '../../src/observability/stats-window.ts';

describe('ObservationRing', () => {
  it('returns the observations of a window, oldest first', () => {
    const r = new ObservationRing(10, 2);
    for (let i = 1; i <= 5; i++) r.push(i * 1000, [i, i * 10]);
    const w = r.window(2000, 4000);
    expect(w.columns).toEqual([
      [2, 3, 4],
      [20, 30, 40],
    ]);
    expect(w.count).toBe(3);
    expect(w.complete).toBe(true);
    expect(r.window(6000, 9000).count).toBe(0);
  });

  it('keeps only its capacity and says when a window reaches past what it kept', () => {
    const r = new ObservationRing(3, 1);
    for (let i = 1; i <= 5; i++) r.push(i * 1000, [i]);
    const all = r.window(0, 10_000);
    expect(all.columns[0]).toEqual([3, 4, 5]);
    expect(all.complete).toBe(false);
    expect(all.oldestAt).toBe(3000);
    // A window that starts after the oldest kept observation is whole.
    expect(r.window(3500, 10_000)).toMatchObject({ count: 2, complete: true });
  });
});

describe('percentiles', () => {
  it('are nearest-rank, ignore NaN and are null without data', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(v)).toEqual({ p50: 50, p95: 95, p99: 99 });
    expect(percentiles([7])).toEqual({ p50: 7, p95: 7, p99: 7 });
    expect(percentiles([3, Number.NaN, 1, 2])).toEqual({ p50: 2, p95: 3, p99: 3 });
    expect(percentiles([])).toEqual({ p50: null, p95: null, p99: null });
  });
});

describe('StatsRecorder', () => {
  it('summarises each series over the window; older observations fall out', () => {
    let now = 1_000_000;
    const s = new StatsRecorder({ capacity: 100, now: () => now });
    s.run({ status: 'completed', durationS: 10, inputTokens: 100, outputTokens: 10, costUsd: 0.5 });
    now += 10 * 60_000; // 10 minutes later
    s.run({ status: 'failed', durationS: 2, inputTokens: 50, outputTokens: 5, costUsd: 0.25 });
    s.run({ status: 'cancelled', durationS: 1, inputTokens: 0, outputTokens: 0, costUsd: 0 });
    s.runStarted(0.5);
    s.workflow('completed', 30);
    s.tool(0.1, false);
    s.tool(0.3, true);
    s.modelCall({ durationS: 2, timeToFirstTokenS: 0.4, error: false });
    s.modelCall({ durationS: 0.2, error: true });
    s.sandboxUsage({ peakMemoryBytes: 1_000_000 });
    s.sandboxUsage({});

    const hour = s.summary(3600);
    expect(hour.runs).toMatchObject({ count: 3, completed: 1, failed: 1, cancelled: 1, errorRate: 1 / 3 });
    expect(hour.runs.durationS).toEqual({ p50: 2, p95: 10, p99: 10 });
    expect(hour.tokens).toEqual({ input: 150, output: 15 });
    expect(hour.costUsd).toBe(0.75);
    expect(hour.queueWaitS.p50).toBe(0.5);
    expect(hour.workflows).toMatchObject({ count: 1, completed: 1, errorRate: 0 });
    expect(hour.toolCalls).toMatchObject({ count: 2, errors: 1, errorRate: 0.5 });
    expect(hour.modelCalls).toMatchObject({ count: 2, errors: 1 });
    expect(hour.modelCalls.timeToFirstTokenS).toEqual({ p50: 0.4, p95: 0.4, p99: 0.4 });
    expect(hour.sandbox.runs).toBe(1); // the empty observation is not one
    expect(hour.sandbox.cpuS.p50).toBeNull(); // absent, not zero
    expect(hour.sandbox.peakMemoryBytes.p50).toBe(1_000_000);

    // A run cancelled before it executed counts, without a duration.
    s.run({ status: 'cancelled', durationS: Number.NaN, inputTokens: 0, outputTokens: 0, costUsd: 0 });
    expect(s.summary(3600).runs).toMatchObject({
      count: 4,
      cancelled: 2,
      durationS: { p50: 2, p95: 10, p99: 10 },
    });

    const five = s.summary(300); // the first run is 10 minutes old
    expect(five.runs).toMatchObject({ count: 3, completed: 0, failed: 1 });
    expect(five.tokens.input).toBe(50);
    expect(five.runs.coverage).toEqual({ complete: true, oldestAt: new Date(1_000_000).toISOString() });
  });
});

describe('buildStats', () => {
  it('puts the window, queue, process, disk and alerts together', async () => {
    const resources = new ResourceMonitor({ dataDir: os.tmpdir(), workspaceBytes: async () => 4096 });
    await resources.walk();
    resources.roll();
    const stats = await buildStats(
      {
        instanceId: 'i-1',
        recorder: new StatsRecorder(),
        resources,
        queueDepth: async () => ({ interactive: 1, high: 2, medium: 3, low: 4 }),
        runsActive: () => 2,
        alerts: {
          firing: () => [
            { name: 'queue_depth', severity: 'warning', message: 'deep', since: 'x', value: 10 },
          ],
        },
      },
      60,
    );
    resources.close();
    expect(stats.queue).toMatchObject({
      depth: 10,
      byPriority: { interactive: 1, high: 2, medium: 3, low: 4 },
    });
    expect(stats.runs).toMatchObject({ active: 2, count: 0, errorRate: null });
    expect(stats.window.seconds).toBe(60);
    expect(stats.process.memory.rssBytes).toBeGreaterThan(0);
    expect(stats.process.cpuPercent).not.toBeNull();
    expect(stats.disk.dataDir?.freeBytes).toBeGreaterThan(0);
    expect(stats.disk.workspaceBytes).toBe(4096);
    expect(stats.alerts.map((a) => a.name)).toEqual(['queue_depth']);
  });
});
