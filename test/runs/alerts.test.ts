// The alert state machine on a manual clock: each rule fires once when its threshold is crossed,
// is not notified again while it keeps firing (de-duplication) or within the cool-down of its last
// notification, and is followed by exactly one "resolved" — only when its "firing" was sent.
import { afterEach, describe, expect, it } from 'vitest';
import { type AlertConfig, loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { AlertManager } from '../../src/runs/alerts/manager.ts';
import type { AlertNotice, AlertProbes, AlertSink } from '../../src/runs/alerts/types.ts';
import { ManualClock } from '../helpers/clock.ts';

const MIN = 60_000;

function config(env: Record<string, string> = {}): AlertConfig {
  return loadConfig({ DATA_DIR: '/tmp', ...env }).alerts;
}

/** A sink that records notices; `fail` scripts the outcomes of the next sends. */
function recordingSink(name = 'rec') {
  const sent: AlertNotice[] = [];
  const attempts: AlertNotice[] = [];
  const outcomes: Array<{ ok: false; error: string; retry: boolean }> = [];
  const sink: AlertSink = {
    name,
    async send(n) {
      attempts.push(n);
      const o = outcomes.shift();
      if (o) return o;
      sent.push(n);
      return { ok: true };
    },
  };
  return { sink, sent, attempts, fail: (...o: typeof outcomes) => outcomes.push(...o) };
}

interface ProbeValues {
  queue: number;
  disk: number;
  memory: number;
  stale: Array<{ id: string; heartbeatAt: string }>;
  leader: boolean;
  broken: Set<string>;
}

function probes(v: ProbeValues): AlertProbes {
  const get = async <T>(name: string, value: T): Promise<T> => {
    if (v.broken.has(name)) throw new Error(`${name} probe down`);
    return value;
  };
  return {
    queueDepth: () => get('queue', v.queue),
    diskUsedPercent: () => get('disk', v.disk),
    memoryUsedPercent: () => get('memory', v.memory),
    staleInstances: () => get('instances', v.stale),
    isLeader: () => get('leader', v.leader),
  };
}

const managers: AlertManager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) await m.stop();
});

function setup(env: Record<string, string> = {}, sinks = [recordingSink()]) {
  const clock = new ManualClock(Date.parse('2030-01-01T00:00:00.000Z'));
  const values: ProbeValues = { queue: 0, disk: 10, memory: 10, stale: [], leader: true, broken: new Set() };
  const metrics = createMetrics();
  const m = new AlertManager({
    config: config(env),
    instanceId: 'i-1',
    sinks: sinks.map((s) => s.sink),
    probes: probes(values),
    logger: silentLogger,
    clock,
    registry: metrics,
  });
  managers.push(m);
  return { m, clock, values, sinks, rec: sinks[0]!, metrics };
}

const states = (ns: AlertNotice[]) =>
  ns.map((n) => `${n.name}${n.subject ? `:${n.subject}` : ''} ${n.state}`);

describe('alert rules and their state machine', () => {
  it('llm_failures: fires once at the threshold, nothing while it keeps firing, resolved when a run completes', async () => {
    const { m, rec } = setup({ ALERT_RUN_FAILURES: '0' });
    m.runFinished('failed', 'llm_unavailable');
    m.runFinished('failed', 'llm_error');
    await m.evaluate();
    expect(rec.sent).toEqual([]);
    m.runFinished('failed', 'llm_auth_error');
    await m.evaluate();
    expect(states(rec.sent)).toEqual(['llm_failures firing']);
    const [n] = rec.sent;
    expect(n).toMatchObject({
      kind: 'alert',
      name: 'llm_failures',
      state: 'firing',
      severity: 'critical',
      value: 3,
      threshold: 3,
      at: '2030-01-01T00:00:00.000Z',
      instance: 'i-1',
    });
    expect(m.firing()).toEqual([expect.objectContaining({ name: 'llm_failures', value: 3, notified: true })]);
    for (let i = 0; i < 5; i++) m.runFinished('failed', 'llm_error');
    await m.evaluate();
    expect(rec.sent).toHaveLength(1); // de-duplicated
    expect(m.firing()[0]?.value).toBe(8);
    // a failure that is not the LLM's neither fires nor resolves it
    m.runFinished('failed', 'clone_failed');
    m.runFinished('cancelled');
    await m.evaluate();
    expect(rec.sent).toHaveLength(1);
    m.runFinished('completed');
    await m.evaluate();
    expect(states(rec.sent)).toEqual(['llm_failures firing', 'llm_failures resolved']);
    expect(rec.sent[1]).toMatchObject({ state: 'resolved', value: 8, threshold: 3 });
    expect(m.firing()).toEqual([]);
  });

  it('cool-down: a new episode within it is held back (and never "resolved"); after it, one firing is sent', async () => {
    const { m, clock, rec } = setup({
      ALERT_COOLDOWN_MS: String(15 * MIN),
      ALERT_EVAL_INTERVAL_MS: '10000',
      ALERT_RUN_FAILURES: '0',
    });
    m.start();
    const burst = () => {
      for (let i = 0; i < 3; i++) m.runFinished('failed', 'llm_error');
    };
    burst();
    await m.evaluate();
    m.runFinished('completed');
    await m.evaluate();
    expect(states(rec.sent)).toEqual(['llm_failures firing', 'llm_failures resolved']);
    // 5 minutes later, within the cool-down: firing again, but not notified
    await clock.advance(5 * MIN);
    burst();
    await m.evaluate();
    expect(m.firing()).toEqual([expect.objectContaining({ name: 'llm_failures', notified: false })]);
    m.runFinished('completed');
    await m.evaluate();
    expect(rec.sent).toHaveLength(2); // no firing and no resolved of the held-back episode
    // another episode that outlasts the cool-down: notified once the cool-down ends, by the periodic evaluation
    await clock.advance(5 * MIN);
    burst();
    await m.evaluate();
    expect(rec.sent).toHaveLength(2);
    await clock.advance(4 * MIN); // 14 min after the first firing
    expect(rec.sent).toHaveLength(2);
    await clock.advance(MIN + 10_000); // past 15 min: the next periodic evaluation sends it
    expect(states(rec.sent)).toEqual(['llm_failures firing', 'llm_failures resolved', 'llm_failures firing']);
    expect(m.firing()[0]?.notified).toBe(true);
    m.runFinished('completed');
    await m.evaluate();
    expect(states(rec.sent).at(-1)).toBe('llm_failures resolved');
  });

  it('run_failures counts every failure in a sliding window and resolves when the window no longer holds enough', async () => {
    const { m, clock, rec } = setup({ ALERT_RUN_FAILURES: '3', ALERT_WINDOW_MS: String(10 * MIN) });
    m.start();
    m.runFinished('failed', 'clone_failed');
    await clock.advance(4 * MIN);
    m.runFinished('failed', 'timeout');
    await clock.advance(4 * MIN);
    m.runFinished('failed', 'internal');
    await m.evaluate();
    expect(states(rec.sent)).toEqual(['run_failures firing']);
    expect(rec.sent[0]?.message).toBe('3 runs failed in the last 10 min');
    m.runFinished('completed'); // a success does not clear the window
    await m.evaluate();
    expect(rec.sent).toHaveLength(1);
    await clock.advance(2 * MIN + 15_000); // the first failure left the window
    expect(states(rec.sent)).toEqual(['run_failures firing', 'run_failures resolved']);
  });

  it('callback_failures counts failed attempts, not deliveries', async () => {
    const { m, rec } = setup({ ALERT_CALLBACK_FAILURES: '2' });
    m.callbackAttempted(false);
    m.callbackAttempted(true);
    await m.evaluate();
    expect(rec.sent).toEqual([]);
    m.callbackAttempted(false);
    await m.evaluate();
    expect(states(rec.sent)).toEqual(['callback_failures firing']);
  });

  it('queue_depth fires only after staying above N for M, and resolves when it drops', async () => {
    const { m, clock, values, rec } = setup({
      ALERT_QUEUE_DEPTH: '100',
      ALERT_QUEUE_DEPTH_FOR_MS: String(5 * MIN),
      ALERT_EVAL_INTERVAL_MS: '15000',
    });
    m.start();
    values.queue = 150;
    await clock.advance(4 * MIN);
    expect(rec.sent).toEqual([]);
    values.queue = 90; // dipped: the timer starts over
    await clock.advance(30_000);
    values.queue = 101;
    await clock.advance(4 * MIN);
    expect(rec.sent).toEqual([]);
    await clock.advance(MIN + 15_000);
    expect(states(rec.sent)).toEqual(['queue_depth firing']);
    expect(rec.sent[0]).toMatchObject({ value: 101, threshold: 100, severity: 'warning' });
    values.queue = 100; // "above N": N itself is fine
    await clock.advance(15_000);
    expect(states(rec.sent)).toEqual(['queue_depth firing', 'queue_depth resolved']);
  });

  it('disk and memory fire at their thresholds; a failing probe keeps the state instead of resolving', async () => {
    const { m, clock, values, rec } = setup({ ALERT_DISK_PERCENT: '90', ALERT_MEMORY_PERCENT: '80' });
    m.start();
    values.disk = 95.04;
    values.memory = 79.9;
    await clock.advance(15_000);
    expect(states(rec.sent)).toEqual(['disk_usage firing']);
    expect(rec.sent[0]).toMatchObject({ value: 95, threshold: 90, severity: 'critical' });
    values.broken.add('disk');
    values.memory = 85;
    await clock.advance(15_000);
    expect(states(rec.sent)).toEqual(['disk_usage firing', 'memory_usage firing']);
    values.broken.clear();
    values.disk = 50;
    values.memory = 50;
    await clock.advance(15_000);
    expect(states(rec.sent).slice(2).sort()).toEqual(['disk_usage resolved', 'memory_usage resolved']);
  });

  it('instance_down fires per silent instance (subject) and resolves each on its own', async () => {
    const { m, clock, values, rec } = setup();
    m.start();
    const beat = new Date(clock.now() - 120_000).toISOString();
    values.stale = [
      { id: 'host-a-1', heartbeatAt: beat },
      { id: 'host-b-2', heartbeatAt: beat },
    ];
    await clock.advance(15_000);
    expect(states(rec.sent)).toEqual(['instance_down:host-a-1 firing', 'instance_down:host-b-2 firing']);
    expect(rec.sent[0]).toMatchObject({
      subject: 'host-a-1',
      value: 135,
      threshold: 60,
      severity: 'critical',
    });
    values.stale = [{ id: 'host-b-2', heartbeatAt: beat }];
    await clock.advance(15_000);
    expect(states(rec.sent).at(-1)).toBe('instance_down:host-a-1 resolved');
    expect(m.firing().map((a) => a.subject)).toEqual(['host-b-2']);
  });

  it('cluster-wide rules are evaluated by the leader only; the others keep quiet', async () => {
    const { m, clock, values, rec } = setup({ ALERT_QUEUE_DEPTH: '1', ALERT_QUEUE_DEPTH_FOR_MS: '0' });
    m.start();
    values.leader = false;
    values.queue = 50;
    values.stale = [{ id: 'x', heartbeatAt: new Date(0).toISOString() }];
    await clock.advance(15_000);
    expect(rec.sent).toEqual([]);
    values.broken.add('leader'); // unknown leadership counts as not the leader
    await clock.advance(15_000);
    expect(rec.sent).toEqual([]);
    values.broken.clear();
    values.leader = true;
    await clock.advance(15_000);
    expect(states(rec.sent).sort()).toEqual(['instance_down:x firing', 'queue_depth firing']);
  });

  it('a threshold of 0 turns a rule off', async () => {
    const { m, clock, values, rec } = setup({
      ALERT_LLM_FAILURES: '0',
      ALERT_RUN_FAILURES: '0',
      ALERT_DISK_PERCENT: '0',
    });
    m.start();
    for (let i = 0; i < 20; i++) m.runFinished('failed', 'llm_error');
    values.disk = 100;
    await clock.advance(15_000);
    expect(rec.sent).toEqual([]);
  });

  it('each sink gets every notice in order; failures are retried on the clock, refusals are not', async () => {
    const a = recordingSink('a');
    const b = recordingSink('b');
    const { m, clock, metrics } = setup({}, [a, b]);
    a.fail({ ok: false, error: 'HTTP 503', retry: true }, { ok: false, error: 'timeout', retry: true });
    b.fail({ ok: false, error: 'HTTP 401', retry: false });
    for (let i = 0; i < 3; i++) m.runFinished('failed', 'llm_error');
    await m.evaluate();
    m.runFinished('completed');
    await m.evaluate();
    // b: the firing was refused (not retried), the resolved went through
    expect(states(b.sent)).toEqual(['llm_failures resolved']);
    expect(b.attempts).toHaveLength(2);
    // a: firing failed twice; the resolved waits behind it (order is kept)
    expect(a.sent).toEqual([]);
    await clock.advance(2_000);
    expect(a.sent).toEqual([]);
    await clock.advance(10_000);
    expect(states(a.sent)).toEqual(['llm_failures firing', 'llm_failures resolved']);
    expect(a.attempts).toHaveLength(4);
    const text = await metrics.render();
    expect(text).toContain('agent_alert_notifications_total{sink="a",outcome="retry"} 2');
    expect(text).toContain('agent_alert_notifications_total{sink="b",outcome="failed"} 1');
    expect(text).toContain('agent_alerts_firing 0');
  });

  it('stop() ends retry waits at once (a dead sink does not hold up shutdown)', async () => {
    const a = recordingSink('a');
    const { m } = setup({}, [a]);
    a.fail({ ok: false, error: 'timeout', retry: true });
    for (let i = 0; i < 3; i++) m.runFinished('failed', 'llm_error');
    await m.evaluate();
    await m.stop(); // resolves although the manual clock never reaches the retry
    expect(a.sent).toEqual([]);
  });
});

describe('alert configuration', () => {
  it('has documented defaults and refuses bad values by name', () => {
    const c = config();
    expect(c).toMatchObject({
      cooldownMs: 900_000,
      windowMs: 600_000,
      runFailures: 5,
      llmFailures: 3,
      callbackFailures: 10,
      queueDepth: 100,
      queueDepthForMs: 300_000,
      diskPercent: 90,
      memoryPercent: 90,
      instanceStaleMs: 60_000,
    });
    expect(c.webhookUrl).toBeUndefined();
    expect(c.telegram).toBeUndefined();
    expect(config({ TELEGRAM_BOT_TOKEN: '1:a', TELEGRAM_CHAT_ID: '42' }).telegram).toEqual({
      botToken: '1:a',
      chatId: '42',
      apiUrl: 'https://api.telegram.org',
    });
    expect(() => config({ TELEGRAM_BOT_TOKEN: '1:a' })).toThrow(/TELEGRAM_CHAT_ID/);
    expect(() => config({ TELEGRAM_BOT_TOKEN: '1:a/../x', TELEGRAM_CHAT_ID: '1' })).toThrow(
      /TELEGRAM_BOT_TOKEN/,
    );
    expect(() => config({ ALERT_WEBHOOK_URL: 'ftp://x' })).toThrow(/ALERT_WEBHOOK_URL/);
    expect(() => config({ ALERT_DISK_PERCENT: '101' })).toThrow(/ALERT_DISK_PERCENT/);
    expect(() => config({ ALERT_INSTANCE_STALE_MS: '5000', INSTANCE_HEARTBEAT_MS: '10000' })).toThrow(
      /ALERT_INSTANCE_STALE_MS/,
    );
  });
});
