// Errors the store raises on purpose. The HTTP layer maps them: InvalidQueryError (and its
// subclass InvalidCursorError) → 400, NotFoundError → 404, ConflictError → 409.

/** A caller-supplied query value (cursor, timestamp filter, …) is malformed. */
export class InvalidQueryError extends Error {
  override name = 'InvalidQueryError';
}

/** A pagination cursor that this store did not produce (or that was tampered with). */
export class InvalidCursorError extends InvalidQueryError {
  override name = 'InvalidCursorError';
  constructor(message = 'invalid cursor') {
    super(message);
  }
}

/** The row an operation depends on does not exist (e.g. appendEvents on an unknown session). */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

/** A uniqueness rule was violated (e.g. a run idempotency key already used in the session). */
export class ConflictError extends Error {
  override name = 'ConflictError';
}
