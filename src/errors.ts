// Application errors with a stable code and HTTP status (docs/api.md §4). Thrown by services,
// rendered by the HTTP and WebSocket layers.
import type { ErrorCode } from './protocol/index.ts';

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
};

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;
  /** Seconds, for `rate_limited`. */
  readonly retryAfterS?: number;
  constructor(code: ErrorCode, message: string, opts: { details?: unknown; retryAfterS?: number } = {}) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.status = STATUS[code];
    this.details = opts.details;
    this.retryAfterS = opts.retryAfterS;
  }
}

export const notFound = (what: string, id: string) => new AppError('not_found', `${what} ${id} not found`);

/**
 * A refusal or failure of a tool call with a stable code (`path_outside_workspace`, `not_found`,
 * …), reported to the model as an error result. Defined here, at the bottom of the layering, so
 * the sandbox layer (path checks) can throw it without importing from `tools/`.
 */
export class ToolError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = 'ToolError';
  }
}
