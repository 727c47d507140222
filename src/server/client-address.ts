// The client address of a request, used for per-address throttling and as the audit actor
// (`ip:<address>`). By default it is the socket's peer. Behind a reverse proxy every request comes
// from the proxy, so one client's failures would throttle everyone: with TRUST_PROXY (IPs/CIDRs of
// the proxies) the address is taken from X-Forwarded-For instead — the right-most entry that is
// not itself a trusted proxy. Entries left of it are written by the client and never believed.
import { BlockList, isIP } from 'node:net';

/** Resolves the client address from the socket peer and the X-Forwarded-For header. */
export type ClientAddress = (peer: string | undefined, forwardedFor: string | string[] | undefined) => string;

/** `::ffff:1.2.3.4` → `1.2.3.4`, `[::1]` → `::1`, lower case; undefined when not an IP address. */
export function normalizeIp(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let a = raw.trim();
  if (a.startsWith('[') && a.includes(']')) a = a.slice(1, a.indexOf(']'));
  a = a.toLowerCase();
  if (a.startsWith('::ffff:') && isIP(a.slice(7)) === 4) a = a.slice(7);
  return isIP(a) ? a : undefined;
}

/** An X-Forwarded-For entry: a bare address, or `1.2.3.4:port` / `[v6]:port` as some proxies write. */
function forwardedEntry(raw: string): string | undefined {
  const direct = normalizeIp(raw);
  if (direct) return direct;
  const t = raw.trim();
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(t);
  return normalizeIp(v4WithPort?.[1] ?? (t.startsWith('[') ? t : undefined));
}

function trustList(trusted: string[]): BlockList {
  const list = new BlockList();
  for (const entry of trusted) {
    const [addr = '', bits] = entry.split('/');
    // A single address is compared as peers are (mapped IPv4 as IPv4); a subnet as written.
    const ip = bits === undefined ? normalizeIp(addr) : addr.toLowerCase();
    const family = ip ? isIP(ip) : 0;
    if (!ip || family === 0) throw new Error(`TRUST_PROXY: not an IP address or CIDR: ${entry}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(ip, type);
    else list.addSubnet(ip, Number(bits), type);
  }
  return list;
}

/** Longest X-Forwarded-For we look at; a longer one is cut (its left end is client-written anyway). */
const MAX_FORWARDED_CHARS = 4096;

export function clientAddress(trusted: string[]): ClientAddress {
  if (trusted.length === 0) return (peer) => normalizeIp(peer) ?? peer ?? 'unknown';
  const list = trustList(trusted);
  const isTrusted = (ip: string) => list.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6');
  return (peer, forwardedFor) => {
    let current = normalizeIp(peer);
    if (!current) return peer ?? 'unknown';
    const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : (forwardedFor ?? '');
    const hops = header.slice(-MAX_FORWARDED_CHARS).split(',');
    // Walk from the proxy towards the client while the hop that reported the address is trusted.
    while (isTrusted(current)) {
      const raw = hops.pop();
      if (raw === undefined || raw.trim() === '') break; // the proxy itself is the client
      const next = forwardedEntry(raw);
      if (!next) break; // garbage written by a trusted hop: blame that hop
      current = next;
    }
    return current;
  };
}
