// The HTTP application: middleware, routes and the OpenAPI document, all from the same schemas.
import { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { noopTracing } from '../observability/tracing.ts';
import { bufferBody, closeIfBodyUnread, requestFraming } from './body.ts';
import type { ServerDeps } from './deps.ts';
import { handleError, notFoundHandler } from './errors.ts';
import { requestTelemetry } from './request-telemetry.ts';
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

  // First, so it sees every answer: one sent before the body was read closes the connection.
  app.use('*', closeIfBodyUnread());
  // Request id, span, metrics and the request's log line.
  app.use('*', requestTelemetry({ ...deps, tracing: deps.tracing ?? noopTracing }));
  // Headers-only checks (declared size, JSON content type), then auth, then the bounded body read:
  // no body is read before its request is authenticated (a signed one's is read by the check).
  app.use('/api/*', requestFraming(deps.config.maxBodyBytes));
  for (const mw of ext.apiMiddleware ?? []) app.use('/api/*', mw);
  app.use('/api/*', bufferBody(deps.config.maxBodyBytes));
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
