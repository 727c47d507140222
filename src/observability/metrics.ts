// The server's Prometheus metrics on prom-client: one registry per runtime (tests run several in
// one process) plus the process-wide default metrics (CPU, memory, heap, event-loop lag, GC, file
// descriptors), registered once per process because they describe the process, not a runtime.
// docs/operations.md lists every metric; names never change once shipped (dashboards and alert
// rules use them).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Histogram buckets (seconds) from milliseconds to hours: runs and workflows. */
export const LONG_BUCKETS = [
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800,
];
/** Tool calls: a file read (ms) to a build (an hour). */
export const TOOL_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
];
/** One model request, start to last token. */
export const LLM_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
/** Time to first token. */
export const TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
/** Queue wait: none (ms) to a backlog of hours. */
export const WAIT_BUCKETS = [
  0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600,
];
export const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const MiB = 1024 ** 2;
export const MEMORY_BUCKETS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384].map((m) => m * MiB);

let processRegistry: Registry | undefined;
/** Default process metrics, collected once per process (prom-client's own names: process_*, nodejs_*). */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: 20 });
  }
  return processRegistry;
}

export interface MetricSources {
  startedAt?: number;
}

/** What the disk gauges read when scraped (resources.ts). */
export interface ResourceReader {
  disk(): Promise<{ freeBytes: number; usedBytes: number } | undefined>;
  workspaces(): { bytes: number } | undefined;
}

/** The server's metrics, created once per runtime and passed to the modules that record them. */
export function createMetrics(sources: MetricSources = {}) {
  const registry = new Registry();
  const startedAt = sources.startedAt ?? Date.now();
  let resources: ResourceReader | undefined;
  const r = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers: r });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers: r });
  const histogram = <L extends string>(
    name: string,
    help: string,
    buckets: number[],
    labelNames: readonly L[] = [],
  ) => new Histogram<L>({ name, help, buckets, labelNames, registers: r });

  const metrics = {
    registry,
    httpRequests: counter('agent_http_requests_total', 'HTTP requests by method, route and status', [
      'method',
      'route',
      'status',
    ]),
    httpDuration: histogram('agent_http_request_duration_seconds', 'HTTP request duration', HTTP_BUCKETS, [
      'method',
      'route',
    ]),
    runsStarted: counter('agent_runs_started_total', 'Runs started by engine', ['engine']),
    runsFinished: counter('agent_runs_finished_total', 'Runs finished by engine and status', [
      'engine',
      'status',
    ]),
    runDuration: histogram('agent_run_duration_seconds', 'Run duration by engine', LONG_BUCKETS, ['engine']),
    runQueueWait: histogram(
      'agent_run_queue_wait_seconds',
      'Time from queued (created) to started, per start',
      WAIT_BUCKETS,
      ['engine'],
    ),
    runsActive: gauge('agent_runs_active', 'Runs executing on this instance'),
    queueDepth: gauge('agent_queue_depth', 'Queued runs (all instances)'),
    queueDepthByPriority: gauge(
      'agent_queue_depth_by_priority',
      'Queued runs (all instances) by priority: interactive, high, medium, low',
      ['priority'],
    ),
    workflowsFinished: counter('agent_workflows_finished_total', 'Workflows that reached a terminal status', [
      'type',
      'status',
    ]),
    workflowDuration: histogram(
      'agent_workflow_duration_seconds',
      'Workflow duration, created to terminal',
      LONG_BUCKETS,
      ['type', 'status'],
    ),
    runsFailed: counter('agent_runs_failed_total', 'Failed runs by error code (e.g. budget_exceeded)', [
      'code',
    ]),
    runsHeld: gauge(
      'agent_runs_held',
      'Queued runs this instance is holding back, by reason (memory: admission control; concurrency: MAX_CONCURRENT_RUNS busy)',
      ['reason'],
    ),
    toolCalls: counter('agent_tool_calls_total', 'Tool calls by tool and outcome', ['tool', 'outcome']),
    toolDuration: histogram('agent_tool_duration_seconds', 'Tool call duration by tool', TOOL_BUCKETS, [
      'tool',
    ]),
    llmRequests: counter('agent_llm_requests_total', 'Model requests by engine, model and outcome', [
      'engine',
      'model',
      'outcome',
    ]),
    llmDuration: histogram(
      'agent_llm_request_duration_seconds',
      'Model request duration, sent to last token',
      LLM_BUCKETS,
      ['engine', 'model'],
    ),
    llmTimeToFirstToken: histogram(
      'agent_llm_time_to_first_token_seconds',
      'Model request: sent to first streamed token',
      TTFT_BUCKETS,
      ['engine', 'model'],
    ),
    sandboxCpu: histogram(
      'agent_run_sandbox_cpu_seconds',
      "CPU time of a run's sandboxed processes (cgroup v2 cpu.stat; absent elsewhere)",
      LONG_BUCKETS,
    ),
    sandboxPeakMemory: histogram(
      'agent_run_sandbox_peak_memory_bytes',
      "Largest peak memory of one of a run's sandboxed process trees (cgroup memory.peak / max_usage_in_bytes)",
      MEMORY_BUCKETS,
    ),
    eventsAppended: counter('agent_events_appended_total', 'Events stored'),
    wsConnections: gauge('agent_ws_connections', 'Open WebSocket connections'),
    sseStreams: gauge('agent_sse_streams', 'Open SSE streams'),
    llmTokens: counter('agent_llm_tokens_total', 'LLM tokens by direction', ['direction']),
    llmCostUsd: counter('agent_llm_cost_usd_total', 'LLM cost in USD'),
    authFailures: counter('agent_auth_failures_total', 'Rejected requests by reason', ['reason']),
    callbacks: counter('agent_callback_deliveries_total', 'Callback delivery attempts by outcome', [
      'outcome',
    ]),
    dataDiskFree: new Gauge({
      name: 'agent_data_disk_free_bytes',
      help: 'Bytes of the DATA_DIR file system available to the server',
      registers: r,
      async collect() {
        const d = await resources?.disk();
        if (d) this.set(d.freeBytes);
      },
    }),
    dataDiskUsed: new Gauge({
      name: 'agent_data_disk_used_bytes',
      help: 'Used bytes of the DATA_DIR file system',
      registers: r,
      async collect() {
        const d = await resources?.disk();
        if (d) this.set(d.usedBytes);
      },
    }),
    workspaceBytes: new Gauge({
      name: 'agent_workspace_bytes',
      help: 'Bytes allocated by all workspaces and homes, from the last periodic walk (WORKSPACE_USAGE_INTERVAL_MS; 0 before the first)',
      registers: r,
      collect() {
        const w = resources?.workspaces();
        if (w) this.set(w.bytes);
      },
    }),
    uptime: new Gauge({
      name: 'agent_uptime_seconds',
      help: 'Process uptime',
      registers: r,
      collect() {
        this.set(Math.round((Date.now() - startedAt) / 1000));
      },
    }),
    /** Prometheus text: the runtime's metrics and the process's. */
    async render(): Promise<string> {
      const [own, proc] = await Promise.all([registry.metrics(), processMetrics().metrics()]);
      return `${own}\n${proc}`;
    },
    contentType: registry.contentType,
    /** Where the disk and workspace gauges read their figures (set once the monitor exists). */
    useResources(source: ResourceReader): void {
      resources = source;
    },
    /** A gauge a part owns, read when scraped (alerts firing, runs waiting for approval). */
    observe(name: string, help: string, read: () => number): void {
      new Gauge({
        name,
        help,
        registers: r,
        collect() {
          this.set(read());
        },
      });
    },
    /** A labelled gauge a part owns, read when scraped: one value per label set. */
    observeLabeled<L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[],
      read: () => Array<[Partial<Record<L, string>>, number]>,
    ): void {
      new Gauge({
        name,
        help,
        labelNames,
        registers: r,
        collect() {
          this.reset();
          for (const [labels, v] of read()) this.set(labels, v);
        },
      });
    },
    /** A counter a part owns (e.g. alert notifications by sink and outcome). */
    counterOf<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
      return counter(name, help, labelNames);
    },
  };
  processMetrics();
  return metrics;
}
export type Metrics = ReturnType<typeof createMetrics>;

/** What a part needs to register its own metrics. */
export type MetricsRegistrar = Pick<Metrics, 'observe' | 'counterOf'>;
