// The figures of GET /api/stats (docs/api.md §11): what ended on this instance over a window
// (rings of recent observations, stats-window.ts), the queue (the store, every instance), the
// process and its disk (resources.ts) and the alerts firing (whoever evaluates alert rules).
import type { AlertState, Stats } from '../protocol/stats.ts';
import type { ResourceMonitor } from './resources.ts';
import { ObservationRing, percentiles, sum } from './stats-window.ts';

export type { AlertState };

/** Whoever evaluates alert rules; absent → `alerts: []`. */
export interface AlertSource {
  firing(): AlertState[];
}

const STATUS = { completed: 0, failed: 1, cancelled: 2 } as const;
type Status = keyof typeof STATUS;

export interface RunObservation {
  status: Status;
  durationS: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface ModelCallObservation {
  durationS: number;
  /** Absent when no token arrived (an error before the first one). */
  timeToFirstTokenS?: number;
  error: boolean;
}

export interface SandboxObservation {
  cpuS?: number;
  peakMemoryBytes?: number;
}

/** Where the observations are recorded (run-metrics, run telemetry); bounded per series. */
export class StatsRecorder {
  private readonly runs: ObservationRing;
  private readonly starts: ObservationRing;
  private readonly workflows: ObservationRing;
  private readonly tools: ObservationRing;
  private readonly model: ObservationRing;
  private readonly sandbox: ObservationRing;
  private readonly now: () => number;

  constructor(opts: { capacity?: number; now?: () => number } = {}) {
    const n = opts.capacity ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.runs = new ObservationRing(n, 5);
    this.starts = new ObservationRing(n, 1);
    this.workflows = new ObservationRing(n, 2);
    this.tools = new ObservationRing(n, 2);
    this.model = new ObservationRing(n, 3);
    this.sandbox = new ObservationRing(n, 2);
  }

  run(o: RunObservation): void {
    this.runs.push(this.now(), [o.durationS, STATUS[o.status], o.inputTokens, o.outputTokens, o.costUsd]);
  }
  runStarted(queueWaitS: number): void {
    this.starts.push(this.now(), [queueWaitS]);
  }
  workflow(status: Status, durationS: number): void {
    this.workflows.push(this.now(), [durationS, STATUS[status]]);
  }
  tool(durationS: number, error: boolean): void {
    this.tools.push(this.now(), [durationS, error ? 1 : 0]);
  }
  modelCall(o: ModelCallObservation): void {
    this.model.push(this.now(), [o.durationS, o.timeToFirstTokenS ?? Number.NaN, o.error ? 1 : 0]);
  }
  sandboxUsage(o: SandboxObservation): void {
    if (o.cpuS === undefined && o.peakMemoryBytes === undefined) return;
    this.sandbox.push(this.now(), [o.cpuS ?? Number.NaN, o.peakMemoryBytes ?? Number.NaN]);
  }

  /** The window's part of the stats. */
  summary(windowS: number) {
    const until = this.now();
    const since = until - windowS * 1000;
    const runs = this.runs.window(since, until);
    const [dur = [], status = [], inTok = [], outTok = [], cost = []] = runs.columns;
    const outcomes = (st: number[]) => {
      const completed = st.filter((s) => s === STATUS.completed).length;
      const failed = st.filter((s) => s === STATUS.failed).length;
      const cancelled = st.filter((s) => s === STATUS.cancelled).length;
      const count = st.length;
      return { count, completed, failed, cancelled, errorRate: count === 0 ? null : failed / count };
    };
    const wf = this.workflows.window(since, until);
    const tools = this.tools.window(since, until);
    const model = this.model.window(since, until);
    const sb = this.sandbox.window(since, until);
    const waits = this.starts.window(since, until);
    const errorsOf = (col: number[] | undefined) => (col ?? []).filter((e) => e === 1).length;
    const runOutcomes = outcomes(status);
    const toolErrors = errorsOf(tools.columns[1]);
    const modelErrors = errorsOf(model.columns[2]);
    return {
      since: new Date(since).toISOString(),
      queueWaitS: percentiles(waits.columns[0] ?? []),
      runs: { ...runOutcomes, durationS: percentiles(dur), coverage: coverage(runs) },
      workflows: {
        ...outcomes(wf.columns[1] ?? []),
        durationS: percentiles(wf.columns[0] ?? []),
        coverage: coverage(wf),
      },
      toolCalls: {
        count: tools.count,
        errors: toolErrors,
        errorRate: tools.count === 0 ? null : toolErrors / tools.count,
        durationS: percentiles(tools.columns[0] ?? []),
        coverage: coverage(tools),
      },
      modelCalls: {
        count: model.count,
        errors: modelErrors,
        errorRate: model.count === 0 ? null : modelErrors / model.count,
        durationS: percentiles(model.columns[0] ?? []),
        timeToFirstTokenS: percentiles(model.columns[1] ?? []),
        coverage: coverage(model),
      },
      errorRate: runOutcomes.errorRate,
      tokens: { input: sum(inTok), output: sum(outTok) },
      costUsd: Math.round(sum(cost) * 1e6) / 1e6,
      sandbox: {
        runs: sb.count,
        cpuS: percentiles(sb.columns[0] ?? []),
        peakMemoryBytes: percentiles(sb.columns[1] ?? []),
      },
    };
  }
}

function coverage(w: { complete: boolean; oldestAt?: number }) {
  return {
    complete: w.complete,
    oldestAt: w.oldestAt === undefined ? null : new Date(w.oldestAt).toISOString(),
  };
}

export type QueueDepth = Stats['queue']['byPriority'];

export interface StatsSources {
  instanceId: string;
  recorder: StatsRecorder;
  resources: ResourceMonitor;
  /** Queued runs by priority, every instance (the store). */
  queueDepth(): Promise<QueueDepth>;
  runsActive(): number;
  alerts?: AlertSource;
  now?: () => number;
}

export const DEFAULT_STATS_WINDOW_S = 3600;

/** GET /api/stats's body. */
export async function buildStats(s: StatsSources, windowS = DEFAULT_STATS_WINDOW_S): Promise<Stats> {
  const [byPriority, disk] = await Promise.all([s.queueDepth(), s.resources.disk()]);
  const w = s.recorder.summary(windowS);
  const ws = s.resources.workspaces();
  return {
    at: new Date((s.now ?? Date.now)()).toISOString(),
    instanceId: s.instanceId,
    scope: 'instance',
    window: { seconds: windowS, since: w.since },
    queue: {
      depth: byPriority.interactive + byPriority.high + byPriority.medium + byPriority.low,
      byPriority,
      waitS: w.queueWaitS,
    },
    runs: { active: s.runsActive(), ...w.runs },
    workflows: w.workflows,
    toolCalls: w.toolCalls,
    modelCalls: w.modelCalls,
    errorRate: w.errorRate,
    tokens: w.tokens,
    costUsd: w.costUsd,
    sandbox: w.sandbox,
    process: s.resources.process(),
    disk: {
      dataDir: disk ?? null,
      workspaceBytes: ws?.bytes ?? null,
      workspaceMeasuredAt: ws ? new Date(ws.at).toISOString() : null,
    },
    alerts: s.alerts?.firing() ?? [],
  };
}
