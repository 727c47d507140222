// The HTTP application: middleware, routes and the OpenAPI document, all from the same schemas.
import { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AppError } from '../errors.ts';
import type { ServerDeps } from './deps.ts';
import { handleError, notFoundHandler } from './errors.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerSessionRoutes } from './routes/sessions.ts';
import { validationHook } from './validation.ts';

export interface AppExtensions {
  /** Runs before every `/api/*` route (auth, rate limits). */
  apiMiddleware?: MiddlewareHandler[];
  /** Runs before `/metrics` when metrics need auth. */
  metricsMiddleware?: MiddlewareHandler[];
  /** Registers more routes (workflows, audit) on the same app so they share validation and OpenAPI. */
  routes?: Array<(app: OpenAPIHono) => void>;
  /** Global security requirement of the OpenAPI document (routes outside /api override it). */
  security?: Array<Record<string, string[]>>;
}

export function createApp(deps: ServerDeps, ext: AppExtensions = {}): OpenAPIHono {
  const app = new OpenAPIHono({ defaultHook: validationHook });

  app.use('*', async (c, next) => {
    const start = performance.now();
    await next();
    const route = c.req.routePath || 'unmatched';
    deps.metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
    deps.metrics.httpDuration.observe((performance.now() - start) / 1000, { method: c.req.method, route });
  });
  app.use(
    '*',
    bodyLimit({
      maxSize: deps.config.maxBodyBytes,
      onError: () => {
        throw new AppError('payload_too_large', `request body exceeds ${deps.config.maxBodyBytes} bytes`);
      },
    }),
  );
  // JSON bodies only: a wrong content type is a client error, not something to guess about.
  app.use('/api/*', async (c, next) => {
    if (['POST', 'PUT', 'PATCH'].includes(c.req.method)) {
      const ct = c.req.header('Content-Type') ?? '';
      const len = c.req.header('Content-Length');
      if (!ct.toLowerCase().startsWith('application/json') && !(len === '0' || len === undefined)) {
        throw new AppError('invalid_request', 'Content-Type must be application/json');
      }
    }
    await next();
  });
  for (const mw of ext.apiMiddleware ?? []) app.use('/api/*', mw);
  for (const mw of ext.metricsMiddleware ?? []) app.use('/metrics', mw);

  registerHealthRoutes(app, deps);
  registerSessionRoutes(app, deps);
  for (const register of ext.routes ?? []) register(app);

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'duyetbot agent server',
      version: deps.version,
      description:
        'Long-running coding-agent server (Tier 2). See docs/api.md for auth, events and WebSocket.',
    },
    servers: [{ url: '/' }],
    ...(ext.security ? { security: ext.security } : {}),
  });
  app.notFound(notFoundHandler);
  app.onError(handleError(deps.logger));
  return app;
}
