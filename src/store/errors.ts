// Errors the store raises on purpose. They are AppErrors, so every transport (HTTP, WebSocket)
// renders them the same way: InvalidQueryError (and InvalidCursorError) → invalid_request (400),
// NotFoundError → not_found (404), ConflictError → conflict (409).
import { AppError } from '../errors.ts';

/** A caller-supplied query value (cursor, timestamp filter, …) is malformed. */
export class InvalidQueryError extends AppError {
  override name = 'InvalidQueryError';
  constructor(message: string) {
    super('invalid_request', message);
  }
}

/** A pagination cursor that this store did not produce (or that was tampered with). */
export class InvalidCursorError extends InvalidQueryError {
  override name = 'InvalidCursorError';
  constructor(message = 'invalid cursor') {
    super(message);
  }
}

/** The row an operation depends on does not exist (e.g. appendEvents on an unknown session). */
export class NotFoundError extends AppError {
  override name = 'NotFoundError';
  constructor(message: string) {
    super('not_found', message);
  }
}

/** A uniqueness rule was violated (e.g. a run idempotency key already used in the session). */
export class ConflictError extends AppError {
  override name = 'ConflictError';
  constructor(message: string) {
    super('conflict', message);
  }
}
