// A minimal Prometheus registry (text exposition format 0.0.4): counters, gauges, histograms with labels.
type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys
    .map(
      (k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
    )
    .join(',');
}

interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(): string[];
}

export class Counter implements Metric {
  readonly type = 'counter' as const;
  readonly name: string;
  readonly help: string;
  private values = new Map<string, number>();
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string[] {
    if (this.values.size === 0) return [`${this.name} 0`];
    return [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`);
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge' as const;
  readonly name: string;
  readonly help: string;
  private values = new Map<string, number>();
  private collector?: () => number;
  constructor(name: string, help: string, collector?: () => number) {
    this.name = name;
    this.help = help;
    this.collector = collector;
  }
  set(value: number, labels: Labels = {}): void {
    this.values.set(labelKey(labels), value);
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  dec(labels: Labels = {}, by = 1): void {
    this.inc(labels, -by);
  }
  render(): string[] {
    if (this.collector) return [`${this.name} ${this.collector()}`];
    if (this.values.size === 0) return [`${this.name} 0`];
    return [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`);
  }
}

export class Histogram implements Metric {
  readonly type = 'histogram' as const;
  readonly name: string;
  readonly help: string;
  private buckets: number[];
  private series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, buckets: number[]) {
    this.name = name;
    this.help = help;
    this.buckets = [...buckets].sort((a, b) => a - b);
  }
  observe(value: number, labels: Labels = {}): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= (this.buckets[i] as number)) s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }
  render(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.series) {
      const sep = k ? `${k},` : '';
      for (const [i, b] of this.buckets.entries())
        out.push(`${this.name}_bucket{${sep}le="${b}"} ${s.counts[i]}`);
      out.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`);
      out.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return out;
  }
}

export class Registry {
  private metrics: Metric[] = [];
  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string, collector?: () => number): Gauge {
    return this.add(new Gauge(name, help, collector));
  }
  histogram(name: string, help: string, buckets: number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }
  private add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  render(): string {
    const lines: string[] = [];
    for (const m of this.metrics) {
      lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.render());
    }
    return `${lines.join('\n')}\n`;
  }
}

/** The server's metrics, created once per process and passed to the modules that record them. */
export function createMetrics() {
  const registry = new Registry();
  return {
    registry,
    httpRequests: registry.counter('agent_http_requests_total', 'HTTP requests by method, route and status'),
    httpDuration: registry.histogram(
      'agent_http_request_duration_seconds',
      'HTTP request duration',
      [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    ),
    runsStarted: registry.counter('agent_runs_started_total', 'Runs started by engine'),
    runsFinished: registry.counter('agent_runs_finished_total', 'Runs finished by engine and status'),
    runsFailed: registry.counter(
      'agent_runs_failed_total',
      'Failed runs by error code (e.g. budget_exceeded)',
    ),
    runDuration: registry.histogram(
      'agent_run_duration_seconds',
      'Run duration by engine',
      [1, 5, 15, 60, 300, 900, 3600, 7200],
    ),
    runsActive: registry.gauge('agent_runs_active', 'Runs executing on this instance'),
    queueDepth: registry.gauge('agent_queue_depth', 'Queued runs (all instances)'),
    runsHeld: registry.gauge(
      'agent_runs_held',
      'Queued runs this instance is holding back, by reason (memory: admission control; concurrency: MAX_CONCURRENT_RUNS busy)',
    ),
    toolCalls: registry.counter('agent_tool_calls_total', 'Tool calls by tool and outcome'),
    toolDuration: registry.histogram(
      'agent_tool_duration_seconds',
      'Tool call duration by tool',
      [0.01, 0.1, 1, 10, 60, 300],
    ),
    eventsAppended: registry.counter('agent_events_appended_total', 'Events stored'),
    wsConnections: registry.gauge('agent_ws_connections', 'Open WebSocket connections'),
    sseStreams: registry.gauge('agent_sse_streams', 'Open SSE streams'),
    llmTokens: registry.counter('agent_llm_tokens_total', 'LLM tokens by direction'),
    llmCostUsd: registry.counter('agent_llm_cost_usd_total', 'LLM cost in USD'),
    authFailures: registry.counter('agent_auth_failures_total', 'Rejected requests by reason'),
    callbacks: registry.counter('agent_callback_deliveries_total', 'Callback delivery attempts by outcome'),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
