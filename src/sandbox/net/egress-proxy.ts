// The egress proxy: runs in the server, listens on unix sockets bound into network sandboxes and
// opens only checked CONNECT tunnels.
//
// One listening socket ("gate") per sandboxed session and policy (egress-pool.ts), each with
// its own cap on open tunnels and an idle timeout on every tunnel: one session holding hundreds of
// tunnels open used to exhaust a single shared proxy and cut every other session off — the Claude
// Code engine's LLM traffic included.
import { chmodSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from '../../observability/logger.ts';
import {
  defaultLookup,
  type LookupFn,
  type NetPolicy,
  normalizeHost,
  parseAuthority,
  resolveDestination,
} from './allowlist.ts';

export interface EgressProxyOptions {
  socketPath: string;
  policy: NetPolicy;
  logger?: Logger;
  lookup?: LookupFn;
  connectTimeoutMs?: number;
  /** Open tunnels (client connections) this socket serves at once; more are refused (503). */
  maxTunnels?: number;
  /** A tunnel with no traffic either way for this long is closed. */
  idleTimeoutMs?: number;
  /**
   * Host loopback ports that sandboxes may reach (e.g. the LLM proxy of the Claude Code engine);
   * checked at each request, so ports can be added later. Only exactly `127.0.0.1:<port>`.
   */
  loopbackPorts?: ReadonlySet<number>;
  /** Opens the upstream connection to the checked address (tests substitute a local server). */
  dial?: (address: string, port: number) => net.Socket;
}

export interface EgressProxy {
  readonly socketPath: string;
  /** Decisions so far (for tests and metrics). */
  readonly stats: { allowed: number; refused: number; overLimit: number; idleClosed: number };
  /** Client connections open now. */
  readonly open: number;
  close(): Promise<void>;
}

const MAX_HEADER = 8192;
/** Time a client has to send its CONNECT line. */
const HEADER_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_TUNNELS = 64;
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;

function reply(sock: net.Socket, status: string, body: string): void {
  sock.end(
    `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Creates a gate and binds its socket synchronously (the file exists when this returns). */
export function listenEgressSync(opts: EgressProxyOptions): EgressProxy {
  const stats = { allowed: 0, refused: 0, overLimit: 0, idleClosed: 0 };
  const lookup = opts.lookup ?? defaultLookup;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 15_000;
  const maxTunnels = opts.maxTunnels ?? DEFAULT_MAX_TUNNELS;
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const clients = new Set<net.Socket>();
  const upstreams = new Set<net.Socket>();
  /** Every accepted socket (refused ones too), so close() never waits on a half-closed peer. */
  const everything = new Set<net.Socket>();

  const server = net.createServer((client) => {
    everything.add(client);
    client.on('close', () => everything.delete(client));
    client.on('error', () => client.destroy());
    if (clients.size >= maxTunnels) {
      stats.overLimit++;
      opts.logger?.warn('sandbox egress: tunnel limit reached for this sandbox', { limit: maxTunnels });
      reply(client, '503 Service Unavailable', `sandbox egress: at most ${maxTunnels} connections at once\n`);
      return;
    }
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.setTimeout(HEADER_TIMEOUT_MS, () => client.destroy());
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buf.length > MAX_HEADER)
          reply(client, '431 Request Header Fields Too Large', 'header too large\n');
        return;
      }
      client.off('data', onData);
      client.pause();
      const head = buf.subarray(0, end).toString('latin1');
      const rest = buf.subarray(end + 4);
      void handle(client, head, rest);
    };
    client.on('data', onData);
  });

  const handle = async (client: net.Socket, head: string, rest: Buffer) => {
    const [method = '', authority = ''] = (head.split('\r\n')[0] ?? '').split(' ');
    if (method.toUpperCase() !== 'CONNECT') {
      stats.refused++;
      reply(
        client,
        '405 Method Not Allowed',
        'sandbox egress proxy: only CONNECT (https, ssh) is supported\n',
      );
      return;
    }
    const target = parseAuthority(authority);
    if (!target) {
      stats.refused++;
      reply(client, '400 Bad Request', 'bad CONNECT target\n');
      return;
    }
    const loopback =
      opts.loopbackPorts?.has(target.port) === true && normalizeHost(target.host) === '127.0.0.1'
        ? ({ ok: true, address: '127.0.0.1', host: '127.0.0.1', port: target.port } as const)
        : null;
    const dest = loopback ?? (await resolveDestination(target.host, target.port, opts.policy, lookup));
    if (!dest.ok) {
      stats.refused++;
      opts.logger?.warn('sandbox egress refused', {
        host: target.host,
        port: target.port,
        reason: dest.reason,
      });
      reply(client, '403 Forbidden', `sandbox egress refused: ${dest.reason}\n`);
      return;
    }
    if (client.destroyed) return;
    const upstream = opts.dial
      ? opts.dial(dest.address, dest.port)
      : net.connect({ host: dest.address, port: dest.port });
    upstreams.add(upstream);
    upstream.on('close', (hadError) => {
      upstreams.delete(upstream);
      // A clean close has already ended the client through the pipe; destroying here could drop
      // data still being flushed.
      if (hadError || !upstream.readableEnded) client.destroy();
    });
    upstream.setTimeout(connectTimeoutMs, () => {
      if (upstream.connecting) upstream.destroy(new Error('connect timeout'));
    });
    upstream.on('error', (err) => {
      if (!client.destroyed && client.bytesWritten === 0)
        reply(client, '502 Bad Gateway', `${err.message}\n`);
      else client.destroy();
    });
    upstream.on('connect', () => {
      // Idle tunnels are closed: a sandbox cannot park connections forever.
      const idle = () => {
        stats.idleClosed++;
        client.destroy();
        upstream.destroy();
      };
      upstream.setTimeout(idleMs, idle);
      client.setTimeout(idleMs, idle);
      stats.allowed++;
      opts.logger?.debug('sandbox egress', { host: dest.host, address: dest.address, port: dest.port });
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (rest.length > 0) upstream.write(rest);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    client.on('close', () => upstream.destroy());
  };

  server.on('error', (err) => opts.logger?.warn('sandbox egress socket failed', { err }));
  // For pipes, listen() binds the socket file before it returns.
  server.listen(opts.socketPath);
  // Sandboxed processes may run as another (unprivileged) uid than the server: connecting needs
  // write permission on the socket. It lives in the server's private runtime directory; only the
  // sandbox it is bound into can reach it.
  try {
    chmodSync(opts.socketPath, 0o666);
  } catch {
    // not fatal: same-uid sandboxes still connect
  }
  // Never keeps the server process alive by itself.
  server.unref();
  return {
    socketPath: opts.socketPath,
    stats,
    get open() {
      return clients.size;
    },
    close: () =>
      new Promise<void>((res) => {
        server.close(() => res());
        for (const s of everything) s.destroy();
        for (const s of upstreams) s.destroy();
      }),
  };
}

/** The same, resolving once the socket listens (kept for callers that start a proxy once). */
export async function startEgressProxy(opts: EgressProxyOptions): Promise<EgressProxy> {
  return listenEgressSync(opts);
}
