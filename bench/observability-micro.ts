// The observability stack's own cost per unit of work, measured in-process (so machine noise that
// swamps a whole-server A/B at the 5 % level matters much less): per HTTP request (request id,
// no-op span, metrics, one info log line with secrets scrubbed, written to a sink) against the
// base tree's request middleware (metrics only); per run (the lifecycle subscribers: metrics,
// /api/stats rings, state-change log lines) against the base tree's run metrics; and per streamed
// delta (the run-telemetry hook with tracing off).
//
//   node bench/observability-micro.ts --base /tmp/obs-base [--n 20000]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Hono } from 'hono';
import { createLogger } from '../src/observability/logger.ts';
import { createMetrics } from '../src/observability/metrics.ts';
import { StatsRecorder } from '../src/observability/stats.ts';
import { noopTracing } from '../src/observability/tracing.ts';
import { emptyUsage } from '../src/protocol/index.ts';
import { Lifecycle } from '../src/runs/lifecycle.ts';
import { logLifecycle } from '../src/runs/lifecycle-log.ts';
import { recordRunMetrics } from '../src/runs/run-metrics.ts';
import { RunTelemetry } from '../src/runs/run-telemetry.ts';
import { requestTelemetry } from '../src/server/request-telemetry.ts';
import type { RunRecord } from '../src/store/types.ts';

const { values } = parseArgs({
  options: { base: { type: 'string' }, n: { type: 'string', default: '20000' } },
});
if (!values.base) {
  console.error('usage: node bench/observability-micro.ts --base DIR [--n N]');
  process.exit(2);
}
const N = Number(values.n);
const base = path.resolve(values.base);

/** CPU µs per iteration of `fn` (median of 5 batches of N, after a warm-up batch). */
async function cpuPerOp(fn: (i: number) => unknown | Promise<unknown>): Promise<number> {
  const batch = async () => {
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) await fn(i);
    const d = process.cpuUsage(t0);
    return (d.user + d.system) / N;
  };
  await batch();
  const runs: number[] = [];
  for (let k = 0; k < 5; k++) runs.push(await batch());
  return runs.sort((a, b) => a - b)[2]!;
}

// ---- per HTTP request ---------------------------------------------------------------------
type BaseMetrics = {
  httpRequests: { inc(l: Record<string, string>): void };
  httpDuration: { observe(v: number, l: Record<string, string>): void };
  runsStarted: { inc(l: Record<string, string>): void };
};
const baseMetricsMod = (await import(path.join(base, 'src/observability/metrics.ts'))) as {
  createMetrics: () => BaseMetrics;
};
const bm = baseMetricsMod.createMetrics();
const baseApp = new Hono();
baseApp.use('*', async (c, next) => {
  const start = performance.now();
  await next();
  const route = c.req.routePath || 'unmatched';
  bm.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
  bm.httpDuration.observe((performance.now() - start) / 1000, { method: c.req.method, route });
});
baseApp.get('/api/sessions/:id', (c) => c.json({ ok: true }));

let written = 0;
const logger = createLogger({
  level: 'info',
  base: { service: 'agent-server' },
  secrets: ['sk-ant-bench-secret-0001', 'bench-api-key-0001', 'bench-signing-secret'],
  write: (l) => {
    written += l.length;
  },
});
const metrics = createMetrics();
const obsApp = new Hono();
obsApp.use('*', requestTelemetry({ metrics, logger, tracing: noopTracing }));
obsApp.get('/api/sessions/:id', (c) => c.json({ ok: true }));

const req = (app: Hono) => (i: number) => app.request(`/api/sessions/ses_${i % 100}`);
const reqBase = await cpuPerOp(req(baseApp));
const reqObs = await cpuPerOp(req(obsApp));

// ---- per run ------------------------------------------------------------------------------
const run = (i: number): RunRecord => ({
  id: `run_${i}`,
  sessionId: `ses_${i % 100}`,
  status: 'running',
  input: 'x',
  priority: 1,
  attempts: 1,
  cancelRequested: false,
  createdAt: new Date(Date.now() - 5).toISOString(),
  startedAt: new Date().toISOString(),
  usage: emptyUsage(),
  traceParent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
});
const outcome = {
  status: 'completed' as const,
  stopReason: 'end_turn',
  usage: { inputTokens: 1000, outputTokens: 200, costUsd: 0.01 },
  finalText: 'done',
  toolMeta: [],
};
async function oneRun(lc: Lifecycle, i: number) {
  const r = run(i);
  await lc.emit('run.queued', { sessionId: r.sessionId, runId: r.id });
  await lc.emit('run.started', { run: r, engine: 'native' });
  await lc.emit('tool.completed', { runId: r.id, tool: 'bash', isError: false, durationMs: 12 });
  await lc.emit('run.finished', { run: r, outcome, engine: 'native', durationMs: 1234 });
}
const baseRunMetrics = (await import(path.join(base, 'src/runs/run-metrics.ts'))) as {
  recordRunMetrics: (lc: Lifecycle, m: BaseMetrics) => unknown;
};
const baseLc = new Lifecycle(logger);
baseRunMetrics.recordRunMetrics(baseLc, bm);
const obsLc = new Lifecycle(logger);
recordRunMetrics(obsLc, metrics, { stats: new StatsRecorder() });
logLifecycle(obsLc, logger);
const runBase = await cpuPerOp((i) => oneRun(baseLc, i));
const runObs = await cpuPerOp((i) => oneRun(obsLc, i));

// ---- per streamed delta (tracing off) ------------------------------------------------------
const telemetry = new RunTelemetry({ metrics, stats: new StatsRecorder(), tracing: noopTracing });
const trace = telemetry.begin(run(0), { engine: 'native', model: 'm' });
const delta = { type: 'text.delta' as const, data: { text: 'hello' } };
const deltaObs = await cpuPerOp(() => trace.onEvent(delta));
const deltaNone = await cpuPerOp(() => undefined);

const f = (x: number) => `${x.toFixed(2)} µs`;
console.log(`CPU per operation (median of 5 × ${N}):`);
console.log(
  `  HTTP request   base ${f(reqBase)}  this ${f(reqObs)}  (+${f(reqObs - reqBase)}: request id, span, info line)`,
);
console.log(
  `  run lifecycle  base ${f(runBase)}  this ${f(runObs)}  (+${f(runObs - runBase)}: 4 events, metrics, stats, 4 log lines)`,
);
console.log(`  streamed delta hook ${f(deltaObs - deltaNone)} (tracing off)`);
console.log(`  (log bytes written: ${written})`);
