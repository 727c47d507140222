// Renders every failure as `{"error":{code,message,details?}}` (docs/api.md §4). Nothing a client
// sends may produce a 500; only our own bugs do, and those are logged with the request id.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ZodError } from 'zod';
import { AppError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { ErrorBody, ErrorCode } from '../protocol/index.ts';

export function errorResponse(
  c: Context,
  code: ErrorCode,
  status: number,
  message: string,
  details?: unknown,
  headers?: Record<string, string>,
) {
  const body: ErrorBody = { error: { code, message, ...(details === undefined ? {} : { details }) } };
  return c.json(body, status as 400, headers);
}

export function zodDetails(err: ZodError): Array<{ path: string; message: string }> {
  return err.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

export function handleError(logger: Logger) {
  return (err: Error, c: Context) => {
    if (err instanceof AppError) {
      const headers: Record<string, string> = {};
      if (err.retryAfterS !== undefined) headers['Retry-After'] = String(err.retryAfterS);
      return errorResponse(c, err.code, err.status, err.message, err.details, headers);
    }
    // (The store's NotFoundError, ConflictError and InvalidQueryError are AppErrors too.)
    if (err instanceof HTTPException) {
      const status = err.status;
      if (status === 413) return errorResponse(c, 'payload_too_large', 413, 'request body too large');
      if (status === 400) return errorResponse(c, 'invalid_request', 400, err.message || 'malformed request');
      if (status === 401) return errorResponse(c, 'unauthorized', 401, err.message || 'unauthorized');
      if (status === 404) return errorResponse(c, 'not_found', 404, err.message || 'not found');
      if (status === 429) return errorResponse(c, 'rate_limited', 429, err.message || 'rate limited');
      if (status === 503) return errorResponse(c, 'unavailable', 503, err.message || 'unavailable');
    }
    logger.error('unhandled error', { err, path: c.req.path, method: c.req.method });
    return errorResponse(c, 'internal', 500, 'internal error');
  };
}

export function notFoundHandler(c: Context) {
  return errorResponse(c, 'not_found', 404, `no route for ${c.req.method} ${c.req.path}`);
}
