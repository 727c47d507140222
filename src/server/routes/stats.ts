// GET /api/stats (docs/api.md §11): queue, runs, workflows, tool and model calls over a window,
// with percentiles, plus process and disk resources and the alerts firing — the figures of
// /metrics as JSON for the CLI, the dashboard and people without Prometheus. Auth as /api.
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute } from '@hono/zod-openapi';
import { StatsQuery, StatsSchema } from '../../protocol/index.ts';
import type { Stats } from '../../protocol/stats.ts';
import { errorResponses, json } from './openapi-helpers.ts';

const route = createRoute({
  method: 'get',
  path: '/api/stats',
  tags: ['operations'],
  summary:
    'Figures over a window (default the last hour): queue, runs, workflows, tool and model calls (counts, P50/P95/P99), errors, tokens, cost, process and disk, alerts',
  request: { query: StatsQuery },
  responses: {
    200: json(StatsSchema, "this instance's figures (the queue is every instance's)"),
    400: errorResponses[400],
    401: errorResponses[401],
    429: errorResponses[429],
  },
});

export function statsRoutes(stats: (windowS: number | undefined) => Promise<Stats>) {
  return (app: OpenAPIHono) => {
    app.openapi(route, async (c) => c.json(await stats(c.req.valid('query').window), 200));
  };
}
