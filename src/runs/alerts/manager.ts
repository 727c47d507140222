// The alert state machine (docs/api.md §11). Per alert (a rule, and a subject when the rule fires
// for several things):
//
//   ok ──fires──► firing: notified at once, unless the same alert was notified within the
//                 cool-down (then it stays firing, un-notified, and is notified when the cool-down
//                 ends if it still fires)
//   firing ──still fires──► nothing is sent again (de-duplication)
//   firing ──stops──► ok: "resolved" is sent if, and only if, "firing" was
//
// Evaluation happens on the injected clock: every `evalIntervalMs` (all rules, with probes), and
// right after a run or callback outcome (the counting rules only), one evaluation at a time.
// Cluster-wide rules (queue depth, instances) are evaluated by one instance, the leader; the
// others keep them frozen. Notices go to every sink in order, one at a time per sink, with a few
// retries; a sink that keeps failing is logged, never blocks the server.

import type { Counter } from 'prom-client';
import { type Clock, systemClock, type Timer } from '../../clock.ts';
import type { AlertConfig } from '../../config.ts';
import type { Logger } from '../../observability/logger.ts';
import type { MetricsRegistrar } from '../../observability/metrics.ts';
import type { RunFailureCode } from '../../protocol/index.ts';
import { type AlertRule, createRules, type Readings } from './rules.ts';
import type { AlertName, AlertNotice, AlertProbes, AlertSink, AlertState } from './types.ts';

/** Failure codes that mean the LLM endpoint failed (the llm_failures rule). */
export const LLM_FAILURE_CODES: ReadonlySet<RunFailureCode> = new Set([
  'llm_error',
  'llm_auth_error',
  'llm_unavailable',
]);

/** Delays before the 2nd and 3rd attempt of a notification. */
const RETRY_DELAYS_MS = [2_000, 10_000];

interface Tracked extends AlertState {
  rule: AlertRule;
}

export interface AlertManagerOptions {
  config: AlertConfig;
  instanceId: string;
  sinks: AlertSink[];
  probes: AlertProbes;
  logger: Logger;
  clock?: Clock;
  /** Adds agent_alerts_firing and agent_alert_notifications_total. */
  registry?: MetricsRegistrar;
}

export class AlertManager {
  private readonly rules: ReturnType<typeof createRules>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly tracked = new Map<string, Tracked>();
  /** Last time a "firing" of each alert key was sent (the cool-down). */
  private readonly lastNotified = new Map<string, number>();
  private chain: Promise<void> = Promise.resolve();
  private readonly sinkChains = new Map<string, Promise<void>>();
  private timer?: Timer;
  private stopped = false;
  /** Retry waits in progress; stop() ends them at once. */
  private readonly waits = new Set<() => void>();
  private readonly sent?: Counter<'sink' | 'outcome'>;

  private readonly o: AlertManagerOptions;

  constructor(o: AlertManagerOptions) {
    this.o = o;
    this.rules = createRules(o.config);
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger.child({ component: 'alerts' });
    if (o.registry) {
      o.registry.observe('agent_alerts_firing', 'Alerts firing on this instance', () => this.tracked.size);
      this.sent = o.registry.counterOf(
        'agent_alert_notifications_total',
        'Alert notifications by sink and outcome (sent, retry, failed)',
        ['sink', 'outcome'],
      );
    }
  }

  /** Evaluates every `evalIntervalMs` from now on. */
  start(): void {
    this.timer = this.clock.setInterval(() => void this.evaluate(), this.o.config.evalIntervalMs, {
      unref: true,
    });
    void this.evaluate();
  }

  /** Stops evaluating; waits for notifications already being sent (retries not yet due are dropped). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    for (const end of [...this.waits]) end();
    await this.chain;
    await Promise.all([...this.sinkChains.values()]);
  }

  /** A run ended (lifecycle `run.finished`). */
  runFinished(status: 'completed' | 'failed' | 'cancelled', code?: RunFailureCode): void {
    const now = this.clock.now();
    if (status === 'completed') this.rules.llmFailures.clear(); // the LLM answered: it is back
    if (status !== 'failed') return void this.evaluate({ probes: false });
    this.rules.runFailures.add(now);
    if (code && LLM_FAILURE_CODES.has(code)) this.rules.llmFailures.add(now);
    void this.evaluate({ probes: false });
  }

  /** A callback delivery attempt ended (lifecycle `callback.attempted`). */
  callbackAttempted(ok: boolean): void {
    if (ok) return;
    this.rules.callbackFailures.add(this.clock.now());
    void this.evaluate({ probes: false });
  }

  /** The alerts firing now, oldest first (for /api/stats). */
  firing(): AlertState[] {
    return [...this.tracked.values()]
      .map(({ rule: _rule, ...state }) => state)
      .sort((a, b) => a.since.localeCompare(b.since));
  }

  /** Evaluates the rules once (all, or only the counting ones); resolves when notices are queued. */
  evaluate(o: { probes: boolean } = { probes: true }): Promise<void> {
    this.chain = this.chain
      .then(() => (this.stopped ? undefined : this.evaluateNow(o.probes)))
      .catch((err) => this.logger.error('alert evaluation failed', { err }));
    return this.chain;
  }

  private async evaluateNow(withProbes: boolean): Promise<void> {
    const readings: Readings = withProbes ? await this.read() : {};
    const leader = withProbes ? await this.o.probes.isLeader().catch(() => false) : false;
    const now = this.clock.now();
    for (const rule of this.rules.all) {
      if (rule.scope === 'cluster' && !leader) continue;
      const firing = rule.evaluate(now, readings);
      if (firing === undefined) continue;
      const seen = new Set<string>();
      for (const f of firing) {
        const key = keyOf(rule.name, f.subject);
        seen.add(key);
        this.fire(key, rule, f, now);
      }
      for (const [key, t] of this.tracked) if (t.rule === rule && !seen.has(key)) this.resolve(key, t, now);
    }
  }

  private async read(): Promise<Readings> {
    const p = this.o.probes;
    const settle = async <T>(name: string, f: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await f();
      } catch (err) {
        this.logger.warn('alert probe failed', { probe: name, err });
        return undefined;
      }
    };
    const [queueDepth, diskUsedPercent, memoryUsedPercent, staleInstances] = await Promise.all([
      settle('queue', () => p.queueDepth()),
      settle('disk', () => p.diskUsedPercent()),
      settle('memory', () => p.memoryUsedPercent()),
      settle('instances', () => p.staleInstances()),
    ]);
    return { queueDepth, diskUsedPercent, memoryUsedPercent, staleInstances };
  }

  private fire(
    key: string,
    rule: AlertRule,
    f: { subject?: string; value: number; message: string },
    now: number,
  ): void {
    let t = this.tracked.get(key);
    if (!t) {
      t = {
        rule,
        name: rule.name,
        ...(f.subject === undefined ? {} : { subject: f.subject }),
        severity: rule.severity,
        message: f.message,
        value: f.value,
        threshold: rule.threshold,
        since: new Date(now).toISOString(),
        notified: false,
      };
      this.tracked.set(key, t);
      this.logger.warn('alert firing', { alert: key, value: f.value, threshold: rule.threshold });
    } else {
      t.value = f.value;
      t.message = f.message;
    }
    if (t.notified) return;
    const last = this.lastNotified.get(key);
    if (last !== undefined && now - last < this.o.config.cooldownMs) return; // cool-down: held back
    t.notified = true;
    this.lastNotified.set(key, now);
    this.notify(this.notice(t, 'firing', now));
  }

  private resolve(key: string, t: Tracked, now: number): void {
    this.tracked.delete(key);
    this.logger.info('alert resolved', { alert: key, notified: t.notified });
    if (t.notified) this.notify(this.notice(t, 'resolved', now));
  }

  private notice(t: Tracked, state: 'firing' | 'resolved', now: number): AlertNotice {
    return {
      kind: 'alert',
      name: t.name,
      state,
      severity: t.severity,
      message: state === 'firing' ? t.message : `resolved: ${t.message}`,
      value: t.value,
      threshold: t.threshold,
      at: new Date(now).toISOString(),
      instance: this.o.instanceId,
      ...(t.subject === undefined ? {} : { subject: t.subject }),
    };
  }

  /** Queues the notice on every sink; each sink sends its notices in order. */
  private notify(n: AlertNotice): void {
    for (const sink of this.o.sinks) {
      const prev = this.sinkChains.get(sink.name) ?? Promise.resolve();
      const next = prev.then(() => this.deliver(sink, n));
      this.sinkChains.set(sink.name, next);
    }
  }

  private async deliver(sink: AlertSink, n: AlertNotice): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let res: Awaited<ReturnType<AlertSink['send']>>;
      try {
        res = await sink.send(n);
      } catch (err) {
        res = { ok: false, error: err instanceof Error ? err.message : String(err), retry: true };
      }
      if (res.ok) {
        this.sent?.inc({ sink: sink.name, outcome: 'sent' });
        return;
      }
      const delay = RETRY_DELAYS_MS[attempt];
      if (!res.retry || delay === undefined || this.stopped) {
        this.sent?.inc({ sink: sink.name, outcome: 'failed' });
        this.logger.error('alert notification failed', {
          sink: sink.name,
          alert: keyOf(n.name, n.subject),
          state: n.state,
          error: res.error,
        });
        return;
      }
      this.sent?.inc({ sink: sink.name, outcome: 'retry' });
      await this.wait(delay);
      if (this.stopped) {
        this.sent?.inc({ sink: sink.name, outcome: 'failed' });
        this.logger.warn('alert notification dropped at shutdown', { sink: sink.name, state: n.state });
        return;
      }
    }
  }

  private wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const end = () => {
        timer.cancel();
        this.waits.delete(end);
        resolve();
      };
      const timer = this.clock.setTimeout(end, ms, { unref: true });
      this.waits.add(end);
    });
  }
}

function keyOf(name: AlertName, subject: string | undefined): string {
  return subject === undefined ? name : `${name}:${subject}`;
}
