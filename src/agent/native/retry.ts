// Retry policy for LLM requests. The SDK's own retries are disabled (maxRetries: 0) so that one
// policy covers HTTP errors, connection failures and errors arriving mid-stream (`event: error`),
// and every retry is announced to the session.
import { APIConnectionError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import { EngineError } from '../engine.ts';

export interface RetryOptions {
  /** Retries after the first attempt (default 5). */
  maxRetries: number;
  /** First backoff delay (default 1000 ms), doubled per retry, with jitter. */
  baseDelayMs: number;
  /** Cap of the exponential backoff (default 30 s). */
  maxDelayMs: number;
  /** Cap of a server-requested `retry-after` wait (default 60 s). */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryOptions = {
  maxRetries: 5,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 60_000,
};

export type Classified =
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'fatal'; error: EngineError }
  | { kind: 'aborted' };

const RETRYABLE_STATUS = new Set([408, 409, 429, 500, 502, 503, 504, 529]);
const RETRYABLE_TYPES = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error']);

/** Decides what to do with an error thrown while requesting or streaming a turn. */
export function classifyError(err: unknown, signal?: AbortSignal): Classified {
  if (signal?.aborted || err instanceof APIUserAbortError) return { kind: 'aborted' };
  if (err instanceof EngineError) return { kind: 'fatal', error: err };
  if (err instanceof APIConnectionError) {
    return { kind: 'retry', reason: `connection error (${err.message})` };
  }
  if (err instanceof IncompleteStreamError) return { kind: 'retry', reason: err.message };
  if (err instanceof APIError) {
    const status = typeof err.status === 'number' ? err.status : undefined;
    const type = errorType(err);
    const apiMessage = errorMessage(err);
    const label = `${status ?? 'stream error'}${type ? ` ${type}` : ''}`;
    const shouldRetryHeader = err.headers?.get('x-should-retry');
    const retryable =
      shouldRetryHeader === 'true' ||
      (shouldRetryHeader !== 'false' &&
        (status === undefined
          ? type !== undefined && RETRYABLE_TYPES.has(type)
          : RETRYABLE_STATUS.has(status) || status >= 500));
    if (retryable) {
      return { kind: 'retry', reason: `Anthropic API ${label}`, retryAfterMs: retryAfterMs(err.headers) };
    }
    const code = status === 401 || status === 403 ? 'llm_auth_error' : 'llm_error';
    const hint = status === 401 ? ' — check ANTHROPIC_API_KEY' : '';
    return {
      kind: 'fatal',
      error: new EngineError(code, `Anthropic API error ${label}: ${apiMessage ?? err.message}${hint}`),
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { kind: 'fatal', error: new EngineError('llm_error', `LLM request failed: ${message}`) };
}

/** The stream ended without `message_stop` (connection dropped); safe to retry. */
export class IncompleteStreamError extends Error {
  constructor(message = 'the response stream ended early') {
    super(message);
    this.name = 'IncompleteStreamError';
  }
}

/** Delay before retry number `retry` (1-based): `retry-after` when given, else backoff with jitter. */
export function retryDelayMs(retry: number, opts: RetryOptions, retryAfter?: number): number {
  if (retryAfter !== undefined && retryAfter >= 0) return Math.min(retryAfter, opts.maxRetryAfterMs);
  const exp = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (retry - 1));
  return Math.round(exp * (0.5 + Math.random() * 0.5));
}

function retryAfterMs(headers: Headers | undefined): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms) {
    const n = Number.parseFloat(ms);
    if (Number.isFinite(n) && n >= 0) return n;
  }
  const raw = headers.get('retry-after');
  if (!raw) return undefined;
  const s = Number.parseFloat(raw);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function errorType(err: APIError): string | undefined {
  if (typeof err.type === 'string') return err.type;
  const body = err.error as { error?: { type?: unknown }; type?: unknown } | undefined;
  const t = body?.error?.type ?? body?.type;
  return typeof t === 'string' ? t : undefined;
}

function errorMessage(err: APIError): string | undefined {
  if (typeof err.apiMessage === 'string' && err.apiMessage) return err.apiMessage;
  const body = err.error as { error?: { message?: unknown }; message?: unknown } | undefined;
  const m = body?.error?.message ?? body?.message;
  return typeof m === 'string' ? m : undefined;
}

/** Resolves after `ms`, or rejects with `aborted` as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortedError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function abortedError(): EngineError {
  return new EngineError('aborted', 'run interrupted');
}
