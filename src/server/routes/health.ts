// Health and operations (docs/api.md §2): /health, /health/live, /health/ready, /metrics.
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import type { ServerDeps } from '../deps.ts';

const HealthBody = z
  .object({
    status: z.enum(['ok', 'degraded', 'unavailable']),
    version: z.string(),
    uptimeS: z.number(),
    checks: z.record(z.string(), z.record(z.string(), z.unknown())),
  })
  .openapi('Health');

const health = createRoute({
  method: 'get',
  path: '/health',
  tags: ['operations'],
  summary: 'Health with the state of each dependency',
  responses: {
    200: { description: 'healthy', content: { 'application/json': { schema: HealthBody } } },
    503: { description: 'a check failed', content: { 'application/json': { schema: HealthBody } } },
  },
});
const live = createRoute({
  method: 'get',
  path: '/health/live',
  tags: ['operations'],
  summary: 'Liveness probe: the process answers',
  responses: {
    200: {
      description: 'alive',
      content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } },
    },
  },
});
const ready = createRoute({
  method: 'get',
  path: '/health/ready',
  tags: ['operations'],
  summary: 'Readiness probe: database reachable and accepting work',
  responses: {
    200: { description: 'ready', content: { 'application/json': { schema: HealthBody } } },
    503: { description: 'not ready', content: { 'application/json': { schema: HealthBody } } },
  },
});

const metrics = createRoute({
  method: 'get',
  path: '/metrics',
  tags: ['operations'],
  summary: 'Prometheus metrics (text exposition format); needs auth when METRICS_AUTH=true',
  responses: { 200: { description: 'metrics', content: { 'text/plain': { schema: z.string() } } } },
});

async function runChecks(deps: ServerDeps) {
  const checks: Record<string, Record<string, unknown>> = {};
  let ok = true;
  let degraded = false;
  for (const hc of deps.healthChecks) {
    try {
      // `degraded`: working but with a part missing (an MCP server down) — reported, still ready.
      const { ok: good, degraded: partial, ...rest } = await hc.check();
      checks[hc.name] = { status: good ? (partial === true ? 'degraded' : 'ok') : 'failing', ...rest };
      if (!good) ok = false;
      if (partial === true) degraded = true;
    } catch (err) {
      checks[hc.name] = { status: 'failing', error: err instanceof Error ? err.message : String(err) };
      ok = false;
    }
  }
  return { ok, degraded, checks };
}

export function registerHealthRoutes(app: OpenAPIHono, deps: ServerDeps): void {
  const body = (ok: boolean, checks: Record<string, Record<string, unknown>>, degraded = false) => ({
    status: ok ? (degraded ? ('degraded' as const) : ('ok' as const)) : ('unavailable' as const),
    version: deps.version,
    uptimeS: Math.round((Date.now() - deps.startedAt) / 1000),
    checks,
  });
  app.openapi(health, async (c) => {
    const { ok, degraded, checks } = await runChecks(deps);
    return ok ? c.json(body(true, checks, degraded), 200) : c.json(body(false, checks), 503);
  });
  app.openapi(live, (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(ready, async (c) => {
    const { ok, degraded, checks } = await runChecks(deps);
    checks.accepting = { status: deps.isAccepting() ? 'ok' : 'failing' };
    const good = ok && deps.isAccepting();
    return good ? c.json(body(true, checks, degraded), 200) : c.json(body(false, checks), 503);
  });
  app.openapi(metrics, async (c) => {
    return c.text(await deps.metrics.render(), 200, { 'Content-Type': deps.metrics.contentType });
  });
}
