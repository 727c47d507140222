// HTTP by hand on a raw socket, for tests about framing, deadlines and connection handling that
// fetch would hide (partial requests, bodies never sent, what happens to the connection).
import net from 'node:net';

export interface RawExchange {
  /** Everything the server sent. */
  data: string;
  /** Whether the server closed the connection (as opposed to the wait running out). */
  closedByServer: boolean;
  /** Milliseconds until the server closed the connection, or until the wait ran out. */
  ms: number;
}

export interface RawSocket {
  write(chunk: string | Buffer): void;
  /** Resolves when the server closes the connection or `waitMs` has passed (then destroys it). */
  result(waitMs: number): Promise<RawExchange>;
  /** Resolves once the data received so far satisfies `pred` (or the connection closes). */
  until(pred: (data: string) => boolean, waitMs: number): Promise<string>;
  destroy(): void;
}

export function rawSocket(baseUrl: string): RawSocket {
  const u = new URL(baseUrl);
  const sock = net.connect(Number(u.port), u.hostname);
  const t0 = Date.now();
  let data = '';
  let closedAt: number | undefined;
  const listeners = new Set<() => void>();
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    data += d;
    for (const l of listeners) l();
  });
  sock.on('error', () => {});
  sock.on('close', () => {
    closedAt ??= Date.now();
    for (const l of listeners) l();
  });
  const wait = (pred: () => boolean, waitMs: number) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (!pred()) return;
        listeners.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        resolve();
      }, waitMs);
      listeners.add(check);
      check();
    });
  return {
    write: (chunk) => {
      sock.write(chunk);
    },
    async result(waitMs) {
      await wait(() => closedAt !== undefined, waitMs);
      const closedByServer = closedAt !== undefined;
      const ms = (closedAt ?? Date.now()) - t0;
      sock.destroy();
      return { data, closedByServer, ms };
    },
    async until(pred, waitMs) {
      await wait(() => pred(data) || closedAt !== undefined, waitMs);
      return data;
    },
    destroy: () => sock.destroy(),
  };
}

/** The status code of the first response in `data` (0 when there is none). */
export function statusOf(data: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
}

/** A request head (no body) with CRLF line ends. */
export function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}
