// One place for what every HTTP request leaves behind: a request id (X-Request-Id, echoed), a span
// (a child of an incoming W3C `traceparent`), the request metrics and one log line — method, route
// pattern, status, duration, request id, credential id (never the secret) and trace id.
// Health probes and scrapes log at debug, so a probe every few seconds does not drown the rest.
import type { Context, MiddlewareHandler } from 'hono';
import { newId } from '../ids.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Tracing } from '../observability/tracing.ts';
import { getCredential } from './auth.ts';

/** A client's own request id is kept when it is short and plain; otherwise the server makes one. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const QUIET = new Set(['/health', '/health/live', '/health/ready', '/metrics']);

export function requestId(c: Context): string | undefined {
  const v: unknown = c.get('requestId' as never);
  return typeof v === 'string' ? v : undefined;
}

/** The traceparent a service stores with the work this request queued (its span's, or the incoming one). */
export function requestTraceparent(c: Context): string | undefined {
  const v: unknown = c.get('traceparent' as never);
  return typeof v === 'string' ? v : undefined;
}

export function requestTelemetry(deps: {
  metrics: Metrics;
  logger: Logger;
  tracing: Tracing;
}): MiddlewareHandler {
  const log = deps.logger.child({ component: 'http' });
  return async (c, next) => {
    const start = performance.now();
    const incoming = c.req.header('x-request-id');
    const id = incoming !== undefined && CLIENT_REQUEST_ID.test(incoming) ? incoming : newId('req');
    c.set('requestId' as never, id as never);
    const span = deps.tracing.startSpan(`${c.req.method}`, {
      kind: 'server',
      parent: c.req.header('traceparent'),
      ...(deps.tracing.enabled
        ? {
            attributes: {
              'http.request.method': c.req.method,
              'url.path': c.req.path,
              'duyetbot.request_id': id,
            },
          }
        : {}),
    });
    if (span.traceparent) c.set('traceparent' as never, span.traceparent as never);
    try {
      await next();
    } finally {
      const durationS = (performance.now() - start) / 1000;
      const route = c.req.routePath || 'unmatched';
      const status = c.res.status;
      try {
        c.res.headers.set('X-Request-Id', id);
      } catch {
        // A response with immutable headers: it goes without the echo.
      }
      deps.metrics.httpRequests.inc({ method: c.req.method, route, status: String(status) });
      deps.metrics.httpDuration.observe({ method: c.req.method, route }, durationS);
      if (deps.tracing.enabled) {
        span.setName(`${c.req.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': status });
        if (status >= 500) span.setError(`HTTP ${status}`);
        span.end();
      }
      const fields = {
        requestId: id,
        method: c.req.method,
        route,
        status,
        durationMs: Math.round(durationS * 10_000) / 10,
        credential: getCredential(c),
        traceId: span.traceId,
      };
      if (status >= 500) log.warn('request', fields);
      else if (QUIET.has(c.req.path)) log.debug('request', fields);
      else log.info('request', fields);
    }
  };
}
