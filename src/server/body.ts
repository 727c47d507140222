// Request bodies of /api: the checks made before a byte of the body is read (declared length,
// content type), the one bounded read of it, and the rule for answers sent before the body was read.
//
// Order per request: requestFraming (headers only) → auth (reads the body only for a signed
// request whose headers pass the cheap checks) → bufferBody (reads what is left, bounded) → route.
// Nothing reads an unauthenticated body, and no read is unbounded: MAX_BODY_BYTES caps its size and
// the server's requestTimeout (src/server/http.ts) its duration.
//
// An answer sent while the client is still sending its body (413, 401, 400, …) says
// `Connection: close`: the server closes the connection after it, so a keep-alive client sends its
// next request on a new connection instead of one that would be reset under it.
import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { AppError } from '../errors.ts';

type HeaderOf = (name: string) => string | undefined;

/** Whether the request says it has a body: a non-zero Content-Length or any Transfer-Encoding. */
export function declaresBody(header: HeaderOf): boolean {
  if (header('transfer-encoding') !== undefined) return true;
  const len = header('content-length');
  return len !== undefined && !/^\s*0*\s*$/.test(len);
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

const tooLarge = (maxBytes: number) =>
  new AppError('payload_too_large', `request body exceeds ${maxBytes} bytes`);

/**
 * Headers-only checks for /api/*: a declared length over the limit → 413; a POST/PUT/PATCH body
 * that is not JSON → 400 (whether its length is declared or it is chunked).
 */
export function requestFraming(maxBytes: number): MiddlewareHandler {
  return async (c, next) => {
    const header: HeaderOf = (n) => c.req.header(n);
    if (declaresBody(header)) {
      const len = header('content-length');
      if (len !== undefined && header('transfer-encoding') === undefined && Number(len) > maxBytes)
        throw tooLarge(maxBytes);
      const ct = (header('content-type') ?? '').toLowerCase();
      if (BODY_METHODS.has(c.req.method) && !/^application\/json\s*(;|$)/.test(ct))
        throw new AppError('invalid_request', 'Content-Type must be application/json');
    }
    await next();
  };
}

type Bytes = Uint8Array<ArrayBuffer>;
const bodies = new WeakMap<Context, Bytes>();

/**
 * Reads the request body once, at most `maxBytes` (413 beyond, 400 when the body cannot be read:
 * malformed chunked framing, a client that went away). Later readers — the signature check, the
 * route's validator — see the same bytes.
 */
export async function readBody(c: Context, maxBytes: number): Promise<Bytes> {
  const done = bodies.get(c);
  if (done) return done;
  const stream = c.req.raw.body;
  let body: Bytes = new Uint8Array(0);
  if (stream) {
    const reader = stream.getReader();
    const chunks: Bytes[] = [];
    let size = 0;
    try {
      for (;;) {
        const { done: end, value } = await reader.read();
        if (end) break;
        size += value.byteLength;
        if (size > maxBytes) {
          void reader.cancel().catch(() => {});
          throw tooLarge(maxBytes);
        }
        chunks.push(value as Bytes);
      }
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new AppError('invalid_request', 'the request body could not be read (malformed or incomplete)');
    }
    body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    c.req.raw = new Request(c.req.raw, { body });
  }
  bodies.set(c, body);
  return body;
}

/** Reads (bounded) the body of every /api request that has one, before the route parses it. */
export function bufferBody(maxBytes: number): MiddlewareHandler {
  return async (c, next) => {
    if (declaresBody((n) => c.req.header(n))) await readBody(c, maxBytes);
    await next();
  };
}

/**
 * Marks an answer given before the request was fully received with `Connection: close`, so the
 * server closes the connection after it (Node does when the response says so). Applies to every
 * route: any handler may answer without reading a body the client is still sending.
 */
export function closeIfBodyUnread(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    if (incoming && !incoming.complete) c.res.headers.set('Connection', 'close');
  };
}
