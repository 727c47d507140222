// Network bits shared by the test servers (PostgreSQL, redis-server, the child server process):
// a free 127.0.0.1 port, and polling until a freshly started process is ready.
import net from 'node:net';
import { sleep } from './sleep.ts';

/** A port that was free on 127.0.0.1 a moment ago (it may be taken by the time it is used). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Calls `step` until it answers true (a step may throw to give up, e.g. when the process exited);
 * throws `timedOut()` once `timeoutMs` have passed.
 */
export async function pollUntil(
  step: () => Promise<boolean>,
  timeoutMs: number,
  timedOut: () => Error,
  intervalMs = 50,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await step()) return;
    if (Date.now() > end) throw timedOut();
    await sleep(intervalMs);
  }
}
