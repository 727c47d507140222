// Binds the Hono app and the WebSocket gateway to one Node HTTP server, with a deadline on every
// read: a request (headers and body) must arrive within REQUEST_TIMEOUT_MS and its headers within
// HEADERS_TIMEOUT_MS, or the connection is closed. These deadlines cover receiving the REQUEST
// only — Node stops the clock once the request is complete — so SSE responses and WebSocket
// connections may last as long as they like. MAX_CONNECTIONS caps open sockets.

import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createAdaptorServer } from '@hono/node-server';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';

export interface Listening {
  server: Server;
  port: number;
  host: string;
  url: string;
  close(): Promise<void>;
}

export type ServerLimits = Pick<Config, 'requestTimeoutMs' | 'headersTimeoutMs' | 'maxConnections'>;

/** Keep idle keep-alive sockets beyond a load balancer's usual idle time (60 s). */
const KEEP_ALIVE_MS = 65_000;

/** The answer to a request Node could not parse or did not receive in time, in the error format. */
function clientErrorResponse(err: NodeJS.ErrnoException): string {
  const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const status = timeout ? 408 : tooLarge ? 431 : 400;
  const reason = timeout ? 'Request Timeout' : tooLarge ? 'Request Header Fields Too Large' : 'Bad Request';
  const message = timeout
    ? 'the request was not received in time'
    : tooLarge
      ? 'request headers too large'
      : 'malformed HTTP request';
  const body = JSON.stringify({ error: { code: 'invalid_request', message } });
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

export async function listen(opts: {
  app: OpenAPIHono;
  host: string;
  port: number;
  onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  limits: ServerLimits;
  logger?: Logger;
}): Promise<Listening> {
  const { requestTimeoutMs, maxConnections } = opts.limits;
  const headersTimeoutMs = Math.min(opts.limits.headersTimeoutMs, requestTimeoutMs);
  const server = createAdaptorServer({
    fetch: opts.app.fetch,
    serverOptions: {
      requestTimeout: requestTimeoutMs,
      headersTimeout: headersTimeoutMs,
      keepAliveTimeout: KEEP_ALIVE_MS,
      // How often Node looks for requests past their deadline: often enough that a deadline is
      // kept to within a quarter of itself.
      connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(headersTimeoutMs / 4))),
    },
  }) as Server;
  if (maxConnections > 0) server.maxConnections = maxConnections;
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/ws') opts.onUpgrade(req, socket, head);
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  // Malformed framing (bad chunk sizes, bad headers) and missed deadlines: answer in the error
  // format when no response has started, then close. Never a crash, never a 500.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
      socket.end(clientErrorResponse(err));
      socket.destroySoon();
    } else socket.destroy();
    opts.logger?.debug('client error', { code: err.code });
  });
  let lastDropLog = 0;
  server.on('drop', () => {
    // Refused connections can come by the thousand: say so at most every 10 s.
    if (Date.now() - lastDropLog < 10_000) return;
    lastDropLog = Date.now();
    opts.logger?.warn(`connections refused: MAX_CONNECTIONS (${maxConnections}) reached`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const hostForUrl = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    port: addr.port,
    host: addr.address,
    url: `http://${hostForUrl}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
