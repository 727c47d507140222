// Reading a request body with a size cap and a deadline (the LLM proxy parses and re-serialises
// every body, so it has to hold it; a client must not make it hold more, or wait longer).
import type http from 'node:http';

export type BodyResult = Buffer | 'too_large' | 'timeout' | 'aborted';

/**
 * The whole body; 'too_large' past `max` bytes (at once when content-length says so), 'timeout'
 * when it has not fully arrived after `timeoutMs`, 'aborted' when the client went away or `signal`
 * fired. On 'too_large'/'timeout' the rest is not read: the caller answers and drops the connection.
 */
export function readCappedBody(
  req: http.IncomingMessage,
  opts: { max: number; timeoutMs: number; signal: AbortSignal },
): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > opts.max) return Promise.resolve('too_large');
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    const done = (r: BodyResult): void => {
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onAbort);
      if (r === 'too_large' || r === 'timeout') req.pause();
      resolve(r);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > opts.max) done('too_large');
      else parts.push(c);
    };
    const onEnd = (): void => done(Buffer.concat(parts));
    const onAbort = (): void => done('aborted');
    const timer = setTimeout(() => done('timeout'), opts.timeoutMs);
    if (opts.signal.aborted) return done('aborted');
    opts.signal.addEventListener('abort', onAbort);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onAbort);
  });
}
