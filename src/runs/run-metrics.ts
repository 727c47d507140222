// The run metrics and /api/stats observations, fed by the lifecycle bus: what started (and how long
// it waited in the queue), how it ended, how long it took, what it cost, which tools it called,
// what its sandboxed processes used, how long workflows took. (Queue depth and active runs are the
// scheduler's own gauges; model calls are reported by the engines through run-telemetry.ts.)
import type { Metrics } from '../observability/metrics.ts';
import type { StatsRecorder } from '../observability/stats.ts';
import type { WorkflowRecord } from '../store/types.ts';
import type { Lifecycle } from './lifecycle.ts';

export interface RunMetricsDeps {
  stats?: StatsRecorder;
  /** The stored workflow (its type and creation time) when one finishes. */
  getWorkflow?: (id: string) => Promise<WorkflowRecord | undefined>;
}

export function recordRunMetrics(
  lifecycle: Lifecycle,
  metrics: Metrics,
  deps: RunMetricsDeps = {},
): Array<() => void> {
  const { stats } = deps;
  return [
    lifecycle.on('run.started', ({ run, engine }) => {
      metrics.runsStarted.inc({ engine });
      // Only a first start waited in the queue since createdAt (a re-run's re-queue time is not kept).
      if (run.attempts <= 1 && run.startedAt) {
        const waitS = Math.max(0, (Date.parse(run.startedAt) - Date.parse(run.createdAt)) / 1000);
        if (Number.isFinite(waitS)) {
          metrics.runQueueWait.observe({ engine }, waitS);
          stats?.runStarted(waitS);
        }
      }
    }),
    lifecycle.on('run.finished', ({ outcome, engine, durationMs, sandbox }) => {
      metrics.runsFinished.inc({ engine, status: outcome.status });
      if (outcome.status === 'failed') metrics.runsFailed.inc({ code: outcome.error.code });
      const u = outcome.usage;
      if (durationMs !== undefined) metrics.runDuration.observe({ engine }, durationMs / 1000);
      // Counted like agent_runs_finished_total; a run that never executed has no duration (NaN is
      // left out of the percentiles).
      stats?.run({
        status: outcome.status,
        durationS: durationMs === undefined ? Number.NaN : durationMs / 1000,
        inputTokens: u.inputTokens,
        outputTokens: u.outputTokens,
        costUsd: u.costUsd,
      });
      if (u.inputTokens + u.outputTokens > 0) {
        metrics.llmTokens.inc({ direction: 'input' }, u.inputTokens);
        metrics.llmTokens.inc({ direction: 'output' }, u.outputTokens);
        metrics.llmCostUsd.inc(u.costUsd);
      }
      if (sandbox) {
        if (sandbox.cpuS !== undefined) metrics.sandboxCpu.observe(sandbox.cpuS);
        if (sandbox.peakMemoryBytes !== undefined) metrics.sandboxPeakMemory.observe(sandbox.peakMemoryBytes);
        stats?.sandboxUsage(sandbox);
      }
    }),
    lifecycle.on('tool.completed', ({ tool, isError, durationMs }) => {
      metrics.toolCalls.inc({ tool, outcome: isError ? 'error' : 'ok' });
      metrics.toolDuration.observe({ tool }, durationMs / 1000);
      stats?.tool(durationMs / 1000, isError);
    }),
    lifecycle.on('workflow.finished', async ({ workflowId, status }) => {
      const w = await deps.getWorkflow?.(workflowId);
      const type = w?.type ?? 'unknown';
      metrics.workflowsFinished.inc({ type, status });
      if (!w?.completedAt) return;
      const durationS = Math.max(0, (Date.parse(w.completedAt) - Date.parse(w.createdAt)) / 1000);
      if (!Number.isFinite(durationS)) return;
      metrics.workflowDuration.observe({ type, status }, durationS);
      stats?.workflow(status, durationS);
    }),
  ];
}
