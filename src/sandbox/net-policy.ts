// Network policy for sandboxed processes. A sandboxed process NEVER shares the host network: it
// always gets its own, empty network namespace (`--unshare-net`, loopback only). A process that
// is allowed network (git clone/fetch/push, or every process once SANDBOX_NETWORK_ALLOW is set)
// additionally gets a unix socket bound into the sandbox that leads to the egress proxy below,
// plus a tiny forwarder (FORWARDER_SOURCE) that listens on the sandbox's own 127.0.0.1 and sets
// HTTPS_PROXY/HTTP_PROXY/ALL_PROXY (and an ssh ProxyCommand) for the command.
//
// The proxy accepts only `CONNECT host:port`, checks the host against the allowlist, resolves it
// ONCE, refuses if any resolved address is private, loopback, link-local (169.254.0.0/16, the
// cloud metadata service), CGNAT, multicast or otherwise reserved, and then connects to that
// exact address (no second resolution, so no DNS rebinding). Anything that ignores the proxy
// settings has no route at all: it fails inside the sandbox without sending a packet.
import { promises as dnsp } from 'node:dns';
import net from 'node:net';
import type { Logger } from '../observability/logger.ts';

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

function ipv4ToInt(ip: string): number {
  const p = ip.split('.').map((x) => Number(x));
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0;
}

function intToIpv4(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses a valid IPv6 literal (as accepted by net.isIPv6) into a 128-bit integer. */
function ipv6ToBigInt(ip: string): bigint {
  let s = ip.toLowerCase();
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  // Trailing dotted IPv4 (::ffff:1.2.3.4) becomes two hextets.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4ToInt(tail);
    s = `${s.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  let groups: string[];
  const dbl = s.indexOf('::');
  if (dbl !== -1) {
    const head = s.slice(0, dbl) === '' ? [] : s.slice(0, dbl).split(':');
    const rest = s.slice(dbl + 2) === '' ? [] : s.slice(dbl + 2).split(':');
    groups = [...head, ...Array<string>(8 - head.length - rest.length).fill('0'), ...rest];
  } else {
    groups = s.split(':');
  }
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(Number.parseInt(g || '0', 16));
  return n;
}

interface V4Range {
  base: number;
  bits: number;
  why: string;
}

const V4_REFUSED: V4Range[] = [
  { base: ipv4ToInt('0.0.0.0'), bits: 8, why: '"this network" (0.0.0.0/8)' },
  { base: ipv4ToInt('10.0.0.0'), bits: 8, why: 'private (10.0.0.0/8)' },
  { base: ipv4ToInt('100.64.0.0'), bits: 10, why: 'carrier-grade NAT / cloud metadata (100.64.0.0/10)' },
  { base: ipv4ToInt('127.0.0.0'), bits: 8, why: 'loopback (127.0.0.0/8)' },
  { base: ipv4ToInt('169.254.0.0'), bits: 16, why: 'link-local / cloud metadata (169.254.0.0/16)' },
  { base: ipv4ToInt('172.16.0.0'), bits: 12, why: 'private (172.16.0.0/12)' },
  { base: ipv4ToInt('192.0.0.0'), bits: 24, why: 'IETF protocol assignments (192.0.0.0/24)' },
  { base: ipv4ToInt('192.0.2.0'), bits: 24, why: 'documentation (192.0.2.0/24)' },
  { base: ipv4ToInt('192.88.99.0'), bits: 24, why: '6to4 relay anycast (192.88.99.0/24)' },
  { base: ipv4ToInt('192.168.0.0'), bits: 16, why: 'private (192.168.0.0/16)' },
  { base: ipv4ToInt('198.18.0.0'), bits: 15, why: 'benchmarking (198.18.0.0/15)' },
  { base: ipv4ToInt('198.51.100.0'), bits: 24, why: 'documentation (198.51.100.0/24)' },
  { base: ipv4ToInt('203.0.113.0'), bits: 24, why: 'documentation (203.0.113.0/24)' },
  { base: ipv4ToInt('224.0.0.0'), bits: 4, why: 'multicast (224.0.0.0/4)' },
  { base: ipv4ToInt('240.0.0.0'), bits: 4, why: 'reserved / broadcast (240.0.0.0/4)' },
];

function inV4(n: number, r: V4Range): boolean {
  const mask = r.bits === 0 ? 0 : (0xffffffff << (32 - r.bits)) >>> 0;
  return (n & mask) >>> 0 === (r.base & mask) >>> 0;
}

interface V6Range {
  base: bigint;
  bits: number;
  why: string;
  /** Where an embedded IPv4 address sits (bit offset from the right); checked instead of refusing. */
  embedded?: number;
}

const V6_REFUSED: V6Range[] = [
  { base: ipv6ToBigInt('::ffff:0:0'), bits: 96, why: 'IPv4-mapped', embedded: 0 },
  { base: ipv6ToBigInt('64:ff9b::'), bits: 96, why: 'NAT64', embedded: 0 },
  { base: ipv6ToBigInt('2002::'), bits: 16, why: '6to4', embedded: 80 },
  { base: 0n, bits: 96, why: 'unspecified / loopback / IPv4-compatible (::/96)' },
  { base: ipv6ToBigInt('64:ff9b:1::'), bits: 48, why: 'local-use NAT64 (64:ff9b:1::/48)' },
  { base: ipv6ToBigInt('100::'), bits: 64, why: 'discard-only (100::/64)' },
  { base: ipv6ToBigInt('2001::'), bits: 23, why: 'IETF protocol assignments incl. Teredo (2001::/23)' },
  { base: ipv6ToBigInt('2001:db8::'), bits: 32, why: 'documentation (2001:db8::/32)' },
  { base: ipv6ToBigInt('fc00::'), bits: 7, why: 'unique local / cloud metadata (fc00::/7)' },
  { base: ipv6ToBigInt('fe80::'), bits: 10, why: 'link-local (fe80::/10)' },
  { base: ipv6ToBigInt('fec0::'), bits: 10, why: 'site-local (fec0::/10)' },
  { base: ipv6ToBigInt('ff00::'), bits: 8, why: 'multicast (ff00::/8)' },
];

const ALL128 = (1n << 128n) - 1n;

function inV6(n: bigint, r: V6Range): boolean {
  const mask = (ALL128 << BigInt(128 - r.bits)) & ALL128;
  return (n & mask) === (r.base & mask);
}

/**
 * Why an IP address may never be reached from a sandbox, or null when it is a public unicast
 * address. Non-IP input is refused too (callers resolve names first).
 */
export function refusedAddressReason(ip: string): string | null {
  if (net.isIPv4(ip)) {
    const n = ipv4ToInt(ip);
    const hit = V4_REFUSED.find((r) => inV4(n, r));
    return hit ? hit.why : null;
  }
  if (net.isIPv6(ip)) {
    const n = ipv6ToBigInt(ip);
    for (const r of V6_REFUSED) {
      if (!inV6(n, r)) continue;
      if (r.embedded !== undefined) {
        const v4 = intToIpv4(Number((n >> BigInt(r.embedded)) & 0xffffffffn));
        const inner = refusedAddressReason(v4);
        return inner ? `${r.why} ${v4}: ${inner}` : null;
      }
      return r.why;
    }
    return null;
  }
  return 'not an IP address';
}

export function isRefusedAddress(ip: string): boolean {
  return refusedAddressReason(ip) !== null;
}

// ---------------------------------------------------------------------------------------------
// Hosts and the allowlist
// ---------------------------------------------------------------------------------------------

/** Names that always mean "this machine" or "the cloud's internal services". */
const REFUSED_NAMES = [
  /^localhost$/,
  /\.localhost$/,
  /\.local$/,
  /\.internal$/,
  /^metadata$/,
  /^metadata\.google\.internal$/,
  /^metadata\.goog$/,
  /^instance-data(\..*)?$/,
];

/** Ports reachable for any allowed host unless an entry names its own port. */
export const DEFAULT_ALLOWED_PORTS = [22, 80, 443];

export interface AllowRule {
  /** Lower-case host name or IP literal, without a leading `*.`/`.`. */
  host: string;
  /** `exact`: only `host`; `subdomains`: only `*.host`; `domain`: `host` and `*.host`. */
  match: 'exact' | 'subdomains' | 'domain';
  /** Allowed port; undefined: DEFAULT_ALLOWED_PORTS. */
  port?: number;
}

export interface NetPolicy {
  /** True: any public host (private/loopback/link-local/metadata still refused). */
  anyHost: boolean;
  rules: AllowRule[];
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.') && !net.isIP(h)) h = h.slice(0, -1);
  return h;
}

/**
 * Parses SANDBOX_NETWORK_ALLOW entries: `host`, `.domain` (domain and subdomains), `*.domain`
 * (subdomains only), `*` (any public host), each optionally with `:port`. Throws on garbage.
 */
export function parseAllowList(entries: string[]): NetPolicy {
  const policy: NetPolicy = { anyHost: false, rules: [] };
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    if (entry === '*') {
      policy.anyHost = true;
      continue;
    }
    let hostPart = entry;
    let port: number | undefined;
    const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracket) {
      hostPart = bracket[1] ?? '';
      port = bracket[2] === undefined ? undefined : Number(bracket[2]);
    } else {
      const m = /^(.*?):(\d+)$/.exec(entry);
      if (m && !net.isIPv6(entry)) {
        hostPart = m[1] ?? '';
        port = Number(m[2]);
      }
    }
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      throw new Error(`SANDBOX_NETWORK_ALLOW: bad port in "${raw}"`);
    }
    let match: AllowRule['match'] = 'exact';
    let host = hostPart.toLowerCase();
    if (host.startsWith('*.')) {
      match = 'subdomains';
      host = host.slice(2);
    } else if (host.startsWith('.')) {
      match = 'domain';
      host = host.slice(1);
    }
    host = normalizeHost(host);
    if (!(net.isIP(host) && match === 'exact') && !HOSTNAME.test(host)) {
      throw new Error(`SANDBOX_NETWORK_ALLOW: "${raw}" is not a host name, .domain, *.domain, IP or *`);
    }
    policy.rules.push(port === undefined ? { host, match } : { host, match, port });
  }
  return policy;
}

/** Policy for processes that asked for network: the allowlist, or any public host when it is empty. */
export function policyFor(allowList: string[]): NetPolicy {
  const p = parseAllowList(allowList);
  if (p.rules.length === 0) p.anyHost = true;
  return p;
}

function ruleMatches(rule: AllowRule, host: string, port: number): boolean {
  const portOk = rule.port === undefined ? DEFAULT_ALLOWED_PORTS.includes(port) : rule.port === port;
  if (!portOk) return false;
  switch (rule.match) {
    case 'exact':
      return host === rule.host;
    case 'subdomains':
      return host.endsWith(`.${rule.host}`);
    case 'domain':
      return host === rule.host || host.endsWith(`.${rule.host}`);
  }
}

export type Decision = { ok: true } | { ok: false; reason: string };

/** Name-level check (before any DNS): syntax, reserved names, refused IP literals, allowlist, port. */
export function checkHostName(hostIn: string, port: number, policy: NetPolicy): Decision {
  const host = normalizeHost(hostIn);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, reason: `bad port ${port}` };
  const ipKind = net.isIP(host);
  if (ipKind === 0 && !HOSTNAME.test(host))
    return { ok: false, reason: `"${hostIn}" is not a valid host name` };
  if (ipKind === 0) {
    const bad = REFUSED_NAMES.find((re) => re.test(host));
    if (bad) return { ok: false, reason: `"${host}" names a local or metadata service` };
  } else {
    const why = refusedAddressReason(host);
    if (why) return { ok: false, reason: `${host} is ${why}` };
  }
  if (policy.rules.some((r) => ruleMatches(r, host, port))) return { ok: true };
  if (policy.anyHost && DEFAULT_ALLOWED_PORTS.includes(port)) return { ok: true };
  return { ok: false, reason: `${host}:${port} is not in SANDBOX_NETWORK_ALLOW` };
}

export type LookupFn = (host: string) => Promise<string[]>;

const defaultLookup: LookupFn = async (host) => {
  const res = await dnsp.lookup(host, { all: true, verbatim: true });
  return res.map((r) => r.address);
};

export type Destination =
  | { ok: true; address: string; host: string; port: number }
  | { ok: false; reason: string };

/**
 * Full check: the name, then every address it resolves to. Returns the single address to
 * connect to, so the connection cannot be steered elsewhere by a second resolution.
 */
export async function resolveDestination(
  hostIn: string,
  port: number,
  policy: NetPolicy,
  lookup: LookupFn = defaultLookup,
  timeoutMs = 5000,
): Promise<Destination> {
  const first = checkHostName(hostIn, port, policy);
  if (!first.ok) return first;
  const host = normalizeHost(hostIn);
  if (net.isIP(host)) return { ok: true, address: host, host, port };
  let addrs: string[];
  let timer: NodeJS.Timeout | undefined;
  try {
    addrs = await Promise.race([
      lookup(host),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('DNS lookup timed out')), timeoutMs);
      }),
    ]);
  } catch (err) {
    return { ok: false, reason: `cannot resolve ${host}: ${(err as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
  if (addrs.length === 0) return { ok: false, reason: `${host} has no addresses` };
  for (const a of addrs) {
    const why = refusedAddressReason(a);
    if (why) return { ok: false, reason: `${host} resolves to ${a} (${why})` };
  }
  return { ok: true, address: addrs[0] as string, host, port };
}

/** Splits a CONNECT authority (`host:port`, `[v6]:port`). */
export function parseAuthority(authority: string): { host: string; port: number } | null {
  const m =
    /^\[([0-9a-fA-F:.%a-zA-Z]+)\]:(\d{1,5})$/.exec(authority) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(authority);
  if (!m) return null;
  return { host: m[1] ?? '', port: Number(m[2]) };
}

// ---------------------------------------------------------------------------------------------
// The egress proxy (runs in the server, listens on a unix socket bound into network sandboxes)
// ---------------------------------------------------------------------------------------------

export interface EgressProxyOptions {
  socketPath: string;
  policy: NetPolicy;
  logger?: Logger;
  lookup?: LookupFn;
  connectTimeoutMs?: number;
  maxConnections?: number;
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
  readonly stats: { allowed: number; refused: number };
  close(): Promise<void>;
}

const MAX_HEADER = 8192;

function reply(sock: net.Socket, status: string, body: string): void {
  sock.end(
    `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function startEgressProxy(opts: EgressProxyOptions): Promise<EgressProxy> {
  const stats = { allowed: 0, refused: 0 };
  const lookup = opts.lookup ?? defaultLookup;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 15_000;
  const open = new Set<net.Socket>();

  const server = net.createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => client.destroy());
    client.setTimeout(15_000, () => client.destroy());
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
  server.maxConnections = opts.maxConnections ?? 512;

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
    open.add(upstream);
    upstream.on('close', (hadError) => {
      open.delete(upstream);
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
      upstream.setTimeout(0);
      client.setTimeout(0);
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

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => {
      server.off('error', reject);
      // Never keeps the server process alive by itself.
      server.unref();
      resolve({
        socketPath: opts.socketPath,
        stats,
        close: () =>
          new Promise<void>((res) => {
            for (const s of open) s.destroy();
            server.close(() => res());
          }),
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The forwarder that runs INSIDE a network-enabled sandbox (plain CommonJS, executed by node)
// ---------------------------------------------------------------------------------------------

/**
 * `node netfwd.cjs serve <socket> [--mirror <port,…>] <cmd> [args…]`: listens on 127.0.0.1 (the
 * sandbox's own loopback), forwards each connection to the egress proxy's unix socket, runs the
 * command with proxy variables set, and exits with its status. `--mirror` also listens on each
 * given 127.0.0.1:<port> and tunnels it to the same port on the host's loopback (only ports the
 * proxy was told to allow).
 * `node netfwd.cjs connect <socket> <host> <port>`: an ssh ProxyCommand (CONNECT over the socket,
 * then stdin/stdout).
 */
export const FORWARDER_SOURCE = `'use strict';
const net = require('node:net');
const { spawn } = require('node:child_process');
const os = require('node:os');
const [mode, sock, ...rest] = process.argv.slice(2);
if (mode === 'connect') {
  const [host, port] = rest;
  const u = net.connect(sock);
  let head = Buffer.alloc(0);
  let open = false;
  u.on('error', (e) => { process.stderr.write('sandbox egress: ' + e.message + '\\n'); process.exit(1); });
  u.on('connect', () => u.write('CONNECT ' + (host.includes(':') ? '[' + host + ']' : host) + ':' + port + ' HTTP/1.1\\r\\nHost: ' + host + ':' + port + '\\r\\n\\r\\n'));
  u.on('data', (d) => {
    if (open) return;
    head = Buffer.concat([head, d]);
    const end = head.indexOf('\\r\\n\\r\\n');
    if (end === -1) return;
    const status = head.subarray(0, end).toString('latin1');
    if (!/^HTTP\\/1\\.[01] 200/.test(status)) {
      const body = head.toString('latin1').split('\\r\\n\\r\\n').slice(1).join('').trim();
      process.stderr.write((body || 'sandbox egress refused: ' + status.split('\\r\\n')[0]) + '\\n');
      process.exit(1);
    }
    open = true;
    const extra = head.subarray(end + 4);
    if (extra.length) process.stdout.write(extra);
    u.pipe(process.stdout);
    process.stdin.pipe(u);
  });
  u.on('close', () => process.exit(0));
} else if (mode === 'serve') {
  // Host loopback services mirrored at the same 127.0.0.1:<port> inside (e.g. the LLM proxy).
  let mirrors = [];
  if (rest[0] === '--mirror') {
    mirrors = rest[1].split(',').map(Number).filter((p) => p > 0 && p < 65536);
    rest.splice(0, 2);
  }
  const tunnel = (c, target) => {
    const u = net.connect(sock);
    let head = Buffer.alloc(0);
    let open = false;
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
    c.on('close', () => u.destroy());
    u.on('close', (hadError) => { if (hadError || !open) c.destroy(); });
    c.pause();
    u.on('connect', () => u.write('CONNECT ' + target + ' HTTP/1.1\\r\\nHost: ' + target + '\\r\\n\\r\\n'));
    u.on('data', (d) => {
      if (open) return;
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\\r\\n\\r\\n');
      if (end === -1) return;
      if (!/^HTTP\\/1\\.[01] 200/.test(head.subarray(0, end).toString('latin1'))) return c.destroy();
      open = true;
      const extra = head.subarray(end + 4);
      if (extra.length) c.write(extra);
      u.pipe(c);
      c.pipe(u);
      c.resume();
    });
  };
  const servers = [];
  const listen = (port, onConn) => new Promise((resolve, reject) => {
    const srv = net.createServer(onConn);
    servers.push(srv);
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv.address().port));
  });
  Promise.all([
    listen(0, (c) => {
      const u = net.connect(sock);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
      c.pipe(u);
      u.pipe(c);
    }),
    ...mirrors.map((p) => listen(p, (c) => tunnel(c, '127.0.0.1:' + p))),
  ]).then(([port]) => {
    const url = 'http://127.0.0.1:' + port;
    const env = Object.assign({}, process.env, {
      HTTPS_PROXY: url, https_proxy: url, HTTP_PROXY: url, http_proxy: url, ALL_PROXY: url, all_proxy: url,
      NO_PROXY: 'localhost,127.0.0.1,::1', no_proxy: 'localhost,127.0.0.1,::1',
      NODE_USE_ENV_PROXY: '1',
      GIT_SSH_COMMAND: 'ssh -o BatchMode=yes -o ProxyCommand="' + process.execPath + ' ' + __filename + ' connect ' + sock + ' %h %p"',
    });
    const child = spawn(rest[0], rest.slice(1), { stdio: 'inherit', env });
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => child.kill(s));
    child.on('error', (e) => { process.stderr.write(rest[0] + ': ' + e.message + '\\n'); process.exit(127); });
    child.on('exit', (code, sig) => {
      for (const srv of servers) srv.close();
      if (sig) process.exit(128 + (os.constants.signals[sig] || 1));
      process.exit(code === null ? 1 : code);
    });
  }, (e) => { process.stderr.write('sandbox network forwarder: ' + e.message + '\\n'); process.exit(126); });
} else {
  process.stderr.write('netfwd: unknown mode\\n');
  process.exit(2);
}
`;
