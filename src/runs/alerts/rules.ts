// The alert rules. Each one turns what it was told (run and callback outcomes, probe readings) into
// the list of things firing now; the manager (./manager.ts) owns the state machine, the cool-down
// and the notifications. A rule whose input is missing (a probe failed) answers `undefined`:
// "unknown", and the manager then keeps the rule's state as it was.
import type { AlertConfig } from '../../config.ts';
import type { AlertName, AlertSeverity } from './types.ts';

export interface Observation {
  subject?: string;
  value: number;
  message: string;
}

/** Probe readings of one evaluation (absent: not read this time, or the probe failed). */
export interface Readings {
  queueDepth?: number;
  diskUsedPercent?: number;
  memoryUsedPercent?: number;
  staleInstances?: Array<{ id: string; heartbeatAt: string }>;
}

export interface AlertRule {
  readonly name: AlertName;
  readonly severity: AlertSeverity;
  /** `cluster`: the same for every instance, so only the leader evaluates it. */
  readonly scope: 'instance' | 'cluster';
  readonly threshold: number;
  /** What fires now; undefined when the input is unknown. */
  evaluate(now: number, r: Readings): Observation[] | undefined;
}

export function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 1000)} s`;
}

/** Timestamps of events in a sliding window. */
class WindowCounter {
  private times: number[] = [];
  private readonly windowMs: number;
  constructor(windowMs: number) {
    this.windowMs = windowMs;
  }
  add(at: number): void {
    this.times.push(at);
  }
  clear(): void {
    this.times = [];
  }
  count(now: number): number {
    const from = now - this.windowMs;
    while (this.times.length > 0 && (this.times[0] as number) <= from) this.times.shift();
    return this.times.length;
  }
}

/** "N <things> in the last <window>" ≥ threshold. */
export class CountRule implements AlertRule {
  readonly scope = 'instance' as const;
  readonly name: AlertName;
  readonly severity: AlertSeverity;
  readonly threshold: number;
  private readonly windowMs: number;
  private readonly what: string;
  private readonly counter: WindowCounter;
  constructor(name: AlertName, severity: AlertSeverity, threshold: number, windowMs: number, what: string) {
    this.name = name;
    this.severity = severity;
    this.threshold = threshold;
    this.windowMs = windowMs;
    this.what = what;
    this.counter = new WindowCounter(windowMs);
  }
  /** One more event at `at`. */
  add(at: number): void {
    if (this.threshold > 0) this.counter.add(at);
  }
  /** The dependency recovered: forget the failures seen so far. */
  clear(): void {
    this.counter.clear();
  }
  evaluate(now: number): Observation[] {
    const n = this.counter.count(now);
    if (this.threshold <= 0 || n < this.threshold) return [];
    return [{ value: n, message: `${n} ${this.what} in the last ${duration(this.windowMs)}` }];
  }
}

/** Queued runs above the threshold for at least `forMs`. */
export class QueueDepthRule implements AlertRule {
  readonly name = 'queue_depth' as const;
  readonly severity = 'warning' as const;
  readonly scope = 'cluster' as const;
  readonly threshold: number;
  private readonly forMs: number;
  private aboveSince?: number;
  constructor(threshold: number, forMs: number) {
    this.threshold = threshold;
    this.forMs = forMs;
  }
  evaluate(now: number, r: Readings): Observation[] | undefined {
    if (this.threshold <= 0) return [];
    if (r.queueDepth === undefined) return undefined;
    if (r.queueDepth <= this.threshold) {
      this.aboveSince = undefined;
      return [];
    }
    this.aboveSince ??= now;
    if (now - this.aboveSince < this.forMs) return [];
    return [
      {
        value: r.queueDepth,
        message: `${r.queueDepth} runs queued, above ${this.threshold} for ${duration(now - this.aboveSince)}`,
      },
    ];
  }
}

/** A percentage reading at or above the threshold. */
export class PercentRule implements AlertRule {
  readonly scope = 'instance' as const;
  readonly name: 'disk_usage' | 'memory_usage';
  readonly severity: AlertSeverity;
  readonly threshold: number;
  private readonly read: (r: Readings) => number | undefined;
  private readonly what: string;
  constructor(
    name: 'disk_usage' | 'memory_usage',
    severity: AlertSeverity,
    threshold: number,
    read: (r: Readings) => number | undefined,
    what: string,
  ) {
    this.name = name;
    this.severity = severity;
    this.threshold = threshold;
    this.read = read;
    this.what = what;
  }
  evaluate(_now: number, r: Readings): Observation[] | undefined {
    if (this.threshold <= 0) return [];
    const v = this.read(r);
    if (v === undefined) return undefined;
    if (v < this.threshold) return [];
    const value = Math.round(v * 10) / 10;
    return [{ value, message: `${this.what} ${value} % used (threshold ${this.threshold} %)` }];
  }
}

/** Instances (multi-instance deployments) that stopped heart-beating without a clean stop. */
export class InstanceDownRule implements AlertRule {
  readonly name = 'instance_down' as const;
  readonly severity = 'critical' as const;
  readonly scope = 'cluster' as const;
  readonly threshold: number;
  constructor(thresholdS: number) {
    this.threshold = thresholdS;
  }
  evaluate(now: number, r: Readings): Observation[] | undefined {
    if (r.staleInstances === undefined) return undefined;
    return r.staleInstances.map((i) => {
      const silentS = Math.round((now - Date.parse(i.heartbeatAt)) / 1000);
      return {
        subject: i.id,
        value: silentS,
        message: `instance ${i.id} has not heart-beaten for ${silentS} s (its runs are re-queued when their leases expire)`,
      };
    });
  }
}

/** The rules of one server, from its configuration. */
export function createRules(c: AlertConfig) {
  const runFailures = new CountRule('run_failures', 'warning', c.runFailures, c.windowMs, 'runs failed');
  const llmFailures = new CountRule(
    'llm_failures',
    'critical',
    c.llmFailures,
    c.windowMs,
    'runs failed because the LLM API failed (llm_error, llm_auth_error, llm_unavailable)',
  );
  const callbackFailures = new CountRule(
    'callback_failures',
    'warning',
    c.callbackFailures,
    c.windowMs,
    'callback deliveries failed',
  );
  return {
    runFailures,
    llmFailures,
    callbackFailures,
    all: [
      runFailures,
      llmFailures,
      callbackFailures,
      new QueueDepthRule(c.queueDepth, c.queueDepthForMs),
      new PercentRule('disk_usage', 'critical', c.diskPercent, (r) => r.diskUsedPercent, 'data disk'),
      new PercentRule('memory_usage', 'warning', c.memoryPercent, (r) => r.memoryUsedPercent, 'memory'),
      new InstanceDownRule(Math.round(c.instanceStaleMs / 1000)),
    ] as AlertRule[],
  };
}
