// The run metrics, fed by the lifecycle bus: what started, how it ended, how long it took, what
// it cost, which tools it called. (Queue depth and active runs are the scheduler's own gauges.)
import type { Metrics } from '../observability/metrics.ts';
import type { Lifecycle } from './lifecycle.ts';

export function recordRunMetrics(lifecycle: Lifecycle, metrics: Metrics): Array<() => void> {
  return [
    lifecycle.on('run.started', ({ engine }) => metrics.runsStarted.inc({ engine })),
    lifecycle.on('run.finished', ({ outcome, engine, durationMs }) => {
      metrics.runsFinished.inc({ engine, status: outcome.status });
      if (outcome.status === 'failed') metrics.runsFailed.inc({ code: outcome.error.code });
      if (durationMs !== undefined) metrics.runDuration.observe(durationMs / 1000, { engine });
      const u = outcome.usage;
      if (u.inputTokens + u.outputTokens > 0) {
        metrics.llmTokens.inc({ direction: 'input' }, u.inputTokens);
        metrics.llmTokens.inc({ direction: 'output' }, u.outputTokens);
        metrics.llmCostUsd.inc({}, u.costUsd);
      }
    }),
    lifecycle.on('tool.completed', ({ tool, isError, durationMs }) => {
      metrics.toolCalls.inc({ tool, outcome: isError ? 'error' : 'ok' });
      metrics.toolDuration.observe(durationMs / 1000, { tool });
    }),
  ];
}
