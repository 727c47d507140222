// Host checks for sandbox egress: SANDBOX_NETWORK_ALLOW parsing, name/port checks, one-shot resolution.
import { promises as dnsp } from 'node:dns';
import net from 'node:net';
import { refusedAddressReason } from '../../net/address.ts';

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

export const defaultLookup: LookupFn = async (host) => {
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
