// JSON responses and Anthropic-shaped API errors (status → error type, default messages).
import type { ServerResponse } from 'node:http';
import { newId } from './reply.ts';
import type { MockError } from './types.ts';

const DEFAULT_STATUS_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

export const DEFAULT_ERROR_MESSAGES: Record<string, string> = {
  rate_limit_error: 'Number of request tokens has exceeded your per-minute rate limit',
  overloaded_error: 'Overloaded',
  api_error: 'Internal server error',
  invalid_request_error: 'Invalid request',
  authentication_error: 'invalid x-api-key',
  permission_error: 'Your API key does not have permission to use the specified resource.',
  not_found_error: 'Not found',
  request_too_large: 'Request exceeds the maximum allowed number of bytes.',
};

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    'request-id': newId('req'),
    ...headers,
  });
  res.end(payload);
}

export function sendError(res: ServerResponse, err: MockError): void {
  const type = err.type || DEFAULT_STATUS_TYPES[err.status] || 'api_error';
  const message = err.message ?? DEFAULT_ERROR_MESSAGES[type] ?? 'Error';
  const headers: Record<string, string> = {};
  if (err.retryAfterS !== undefined) {
    headers['retry-after'] = String(err.retryAfterS);
    headers['retry-after-ms'] = String(Math.round(err.retryAfterS * 1000));
  }
  const requestId = newId('req');
  headers['request-id'] = requestId;
  if (res.headersSent || res.destroyed) return;
  const status = Number.isInteger(err.status) && err.status >= 400 && err.status <= 599 ? err.status : 500;
  sendJson(res, status, { type: 'error', error: { type, message }, request_id: requestId }, headers);
}

export function apiError(status: number, type: string, message: string): MockError {
  return { kind: 'error', status, type, message };
}
