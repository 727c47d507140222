// GET /api/stats (docs/api.md §11): the server's figures as JSON, for the CLI, the dashboard and
// people who do not run Prometheus. Durations are seconds; percentiles are null when nothing was
// observed in the window.
import { z } from '@hono/zod-openapi';

export const StatsQuery = z.object({
  window: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .optional()
    .openapi({ description: 'seconds to look back (1 – 604800); default 3600' }),
});

const Pct = z
  .object({ p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable() })
  .openapi('Percentiles', { description: 'nearest-rank percentiles; null when nothing was observed' });

const Outcomes = {
  count: z.number().int().openapi({ description: 'ended in the window' }),
  completed: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
  errorRate: z.number().nullable().openapi({ description: 'failed / count; null when count is 0' }),
};

const Coverage = z
  .object({
    complete: z.boolean().openapi({
      description:
        'false when the window holds more observations than this instance keeps (STATS_MAX_SAMPLES per series): the figures then cover the newest ones, from oldestAt',
    }),
    oldestAt: z.string().nullable(),
  })
  .openapi('StatsCoverage');

export const AlertStateSchema = z
  .object({
    name: z.string(),
    severity: z.string(),
    message: z.string(),
    value: z.number().optional(),
    threshold: z.number().optional(),
    since: z.string().openapi({ description: 'when it started firing (ISO-8601)' }),
  })
  .openapi('FiringAlert');
export type AlertState = z.infer<typeof AlertStateSchema>;

export const StatsSchema = z
  .object({
    at: z.string(),
    instanceId: z.string(),
    scope: z.literal('instance').openapi({
      description:
        "runs, workflows, tool and model calls are this instance's (the ones it executed); the queue is every instance's",
    }),
    window: z.object({ seconds: z.number().int(), since: z.string() }),
    queue: z.object({
      depth: z.number().int(),
      byPriority: z.object({
        interactive: z.number().int(),
        high: z.number().int(),
        medium: z.number().int(),
        low: z.number().int(),
      }),
      waitS: Pct.openapi({ description: 'queued → started, of the runs started in the window' }),
    }),
    runs: z.object({
      active: z.number().int().openapi({ description: 'executing on this instance now' }),
      ...Outcomes,
      durationS: Pct,
      coverage: Coverage,
    }),
    workflows: z.object({ ...Outcomes, durationS: Pct, coverage: Coverage }),
    toolCalls: z.object({
      count: z.number().int(),
      errors: z.number().int(),
      errorRate: z.number().nullable(),
      durationS: Pct,
      coverage: Coverage,
    }),
    modelCalls: z.object({
      count: z.number().int(),
      errors: z.number().int(),
      errorRate: z.number().nullable(),
      durationS: Pct,
      timeToFirstTokenS: Pct,
      coverage: Coverage,
    }),
    errorRate: z.number().nullable().openapi({ description: 'failed runs / runs ended in the window' }),
    tokens: z.object({ input: z.number(), output: z.number() }),
    costUsd: z.number(),
    sandbox: z.object({
      runs: z.number().int().openapi({ description: 'runs in the window with cgroup figures' }),
      cpuS: Pct.openapi({ description: "CPU seconds of a run's sandboxed processes (cgroup v2 only)" }),
      peakMemoryBytes: Pct.openapi({ description: "largest peak memory of one of a run's process trees" }),
    }),
    process: z.object({
      uptimeS: z.number(),
      cpuPercent: z.number().nullable().openapi({ description: 'of one core, over the last minute' }),
      cpuSeconds: z.object({ user: z.number(), system: z.number() }),
      memory: z.object({
        rssBytes: z.number(),
        heapUsedBytes: z.number(),
        heapTotalBytes: z.number(),
        externalBytes: z.number(),
      }),
      eventLoopLagMs: z.object({ p50: z.number(), p99: z.number(), max: z.number() }),
    }),
    disk: z.object({
      dataDir: z
        .object({ totalBytes: z.number(), freeBytes: z.number(), usedBytes: z.number() })
        .nullable()
        .openapi({ description: 'the file system of DATA_DIR; free = available to the server' }),
      workspaceBytes: z.number().nullable().openapi({
        description: 'all workspaces and homes, from the last periodic walk; null before the first',
      }),
      workspaceMeasuredAt: z.string().nullable(),
    }),
    alerts: z
      .array(AlertStateSchema)
      .openapi({ description: 'alerts firing now (empty when none are configured)' }),
  })
  .openapi('Stats');
export type Stats = z.infer<typeof StatsSchema>;
