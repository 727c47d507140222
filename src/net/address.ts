// IP address rules shared by every layer (sandbox egress, workflow callbacks, alert webhooks):
// parsing every IPv4 spelling a URL or resolver accepts, the ranges a server-side request may never
// reach, and CIDR matching. Dependency-free (node:net only) so any folder may import it.
import net from 'node:net';

export type ParsedIp = { family: 4; value: number } | { family: 6; value: bigint };

/**
 * One IPv4 part as the WHATWG URL parser (and inet_aton) reads it: `0x`-prefixed hex, `0`-prefixed
 * octal, else decimal. Null when it is not a number.
 */
function ipv4Part(part: string): number | null {
  let s = part;
  let radix = 10;
  if (/^0x/i.test(s)) {
    s = s.slice(2);
    radix = 16;
    if (s === '') return 0; // "0x" alone is 0 in WHATWG
  } else if (s.length > 1 && s.startsWith('0')) {
    s = s.slice(1);
    radix = 8;
  }
  const re = radix === 16 ? /^[0-9a-f]+$/i : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!re.test(s)) return null;
  // Past 2^32 a part is invalid anyway; cap before Number() loses precision.
  if (s.replace(/^0+/, '').length > 12) return Number.POSITIVE_INFINITY;
  return Number.parseInt(s, radix);
}

/**
 * Parses an IPv4 address in any spelling the WHATWG URL parser normalises: `127.0.0.1`,
 * `2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`, `0x7f.1`, with an optional trailing dot.
 * Returns the 32-bit value, or null when `s` is not an IPv4 address.
 */
export function parseIPv4(s: string): number | null {
  const parts = s.split('.');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length < 1 || parts.length > 4) return null;
  const nums: number[] = [];
  for (const p of parts) {
    if (p === '') return null;
    const n = ipv4Part(p);
    if (n === null) return null;
    nums.push(n);
  }
  const last = nums.pop() as number;
  if (nums.some((n) => n > 255)) return null;
  if (last >= 256 ** (4 - nums.length)) return null;
  let v = last;
  nums.forEach((n, i) => {
    v += n * 256 ** (3 - i);
  });
  return v;
}

export function formatIPv4(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Strips `[...]` and a `%zone`; lower-cases. */
function bare(ip: string): string {
  let s = ip.trim().toLowerCase();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  return s;
}

/** Parses a valid IPv6 literal (as accepted by net.isIPv6) into a 128-bit integer. */
function ipv6ToBigInt(ip: string): bigint {
  let s = ip;
  // Trailing dotted IPv4 (::ffff:1.2.3.4) becomes two hextets.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseIPv4(tail) ?? 0;
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

/**
 * Parses an IP literal: IPv4 in any WHATWG spelling, or IPv6 (brackets and a zone allowed).
 * Null for anything else (a host name).
 */
export function parseIp(s: string): ParsedIp | null {
  const b = bare(s);
  if (b === '') return null;
  if (net.isIPv6(b)) return { family: 6, value: ipv6ToBigInt(b) };
  const v4 = parseIPv4(b);
  return v4 === null ? null : { family: 4, value: v4 };
}

/** True for an IP literal in any spelling `parseIp` accepts. */
export function isIpLiteral(s: string): boolean {
  return parseIp(s) !== null;
}

export interface Cidr {
  family: 4 | 6;
  /** The network address (host bits cleared), as a 128-bit value for both families. */
  base: bigint;
  bits: number;
}

const ALL32 = 0xffffffffn;
const ALL128 = (1n << 128n) - 1n;

function maskOf(family: 4 | 6, bits: number): bigint {
  const width = family === 4 ? 32 : 128;
  const all = family === 4 ? ALL32 : ALL128;
  return (all << BigInt(width - bits)) & all;
}

/** Parses `a.b.c.d/n` or `v6/n` (or a bare IP: /32, /128). Null when malformed. */
export function parseCidr(s: string): Cidr | null {
  const slash = s.indexOf('/');
  const ipPart = slash === -1 ? s : s.slice(0, slash);
  const ip = parseIp(ipPart);
  if (!ip) return null;
  const width = ip.family === 4 ? 32 : 128;
  let bits = width;
  if (slash !== -1) {
    const b = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b)) return null;
    bits = Number(b);
    if (bits > width) return null;
  }
  const v = BigInt(ip.value);
  return { family: ip.family, base: v & maskOf(ip.family, bits), bits };
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else null. */
function mappedV4(v: bigint): number | null {
  return v >> 32n === 0xffffn ? Number(v & ALL32) : null;
}

/** Does `ip` (any spelling) fall in `cidr`? An IPv4-mapped IPv6 address matches IPv4 CIDRs. */
export function cidrContains(cidr: Cidr, ip: string | ParsedIp): boolean {
  const p = typeof ip === 'string' ? parseIp(ip) : ip;
  if (!p) return false;
  let family = p.family;
  let v = BigInt(p.value);
  if (p.family === 6 && cidr.family === 4) {
    const m = mappedV4(v);
    if (m === null) return false;
    family = 4;
    v = BigInt(m);
  }
  if (family !== cidr.family) return false;
  return (v & maskOf(cidr.family, cidr.bits)) === cidr.base;
}

interface Range {
  cidr: Cidr;
  why: string;
  /** Where an embedded IPv4 address sits (bits from the right): that address is judged instead. */
  embedded?: number;
}

const range = (c: string, why: string, embedded?: number): Range => ({
  cidr: parseCidr(c) as Cidr,
  why,
  ...(embedded === undefined ? {} : { embedded }),
});

const V4_REFUSED: Range[] = [
  range('0.0.0.0/8', '"this network" (0.0.0.0/8)'),
  range('10.0.0.0/8', 'private (10.0.0.0/8)'),
  range('100.64.0.0/10', 'carrier-grade NAT / cloud metadata (100.64.0.0/10)'),
  range('127.0.0.0/8', 'loopback (127.0.0.0/8)'),
  range('169.254.0.0/16', 'link-local / cloud metadata (169.254.0.0/16)'),
  range('172.16.0.0/12', 'private (172.16.0.0/12)'),
  range('192.0.0.0/24', 'IETF protocol assignments (192.0.0.0/24)'),
  range('192.0.2.0/24', 'documentation (192.0.2.0/24)'),
  range('192.88.99.0/24', '6to4 relay anycast (192.88.99.0/24)'),
  range('192.168.0.0/16', 'private (192.168.0.0/16)'),
  range('198.18.0.0/15', 'benchmarking (198.18.0.0/15)'),
  range('198.51.100.0/24', 'documentation (198.51.100.0/24)'),
  range('203.0.113.0/24', 'documentation (203.0.113.0/24)'),
  range('224.0.0.0/4', 'multicast (224.0.0.0/4)'),
  range('240.0.0.0/4', 'reserved / broadcast (240.0.0.0/4)'),
];

// Order matters: the forms that embed an IPv4 address come before the ranges that contain them.
const V6_REFUSED: Range[] = [
  range('::ffff:0:0/96', 'IPv4-mapped', 0),
  range('64:ff9b::/96', 'NAT64', 0),
  range('2002::/16', '6to4', 80),
  range('::/8', 'unspecified / loopback / IPv4-compatible / reserved (::/8)'),
  range('64:ff9b:1::/48', 'local-use NAT64 (64:ff9b:1::/48)'),
  range('100::/64', 'discard-only (100::/64)'),
  range('2001::/23', 'IETF protocol assignments incl. Teredo (2001::/23)'),
  range('2001:db8::/32', 'documentation (2001:db8::/32)'),
  range('3fff::/20', 'documentation (3fff::/20)'),
  range('5f00::/16', 'segment routing SIDs (5f00::/16)'),
  range('fc00::/7', 'unique local / cloud metadata (fc00::/7)'),
  range('fe80::/10', 'link-local (fe80::/10)'),
  range('fec0::/10', 'site-local (fec0::/10)'),
  range('ff00::/8', 'multicast (ff00::/8)'),
];

/** Global unicast IPv6 is 2000::/3; everything else is reserved or local. */
const V6_GLOBAL = parseCidr('2000::/3') as Cidr;

/**
 * Why an IP address may never be reached by a request the server or a sandbox makes (loopback,
 * private, link-local, cloud metadata, CGNAT, multicast, reserved, documentation; IPv6 forms that
 * embed such an IPv4 address), or null for a public unicast address. Accepts every IPv4 spelling
 * a URL normalises (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`). Non-IP input is refused.
 */
export function refusedAddressReason(ip: string): string | null {
  const p = parseIp(ip);
  if (!p) return 'not an IP address';
  if (p.family === 4) return V4_REFUSED.find((r) => cidrContains(r.cidr, p))?.why ?? null;
  for (const r of V6_REFUSED) {
    if (!cidrContains(r.cidr, p)) continue;
    if (r.embedded !== undefined) {
      const v4 = formatIPv4(Number((p.value >> BigInt(r.embedded)) & ALL32));
      const inner = refusedAddressReason(v4);
      return inner ? `${r.why} ${v4}: ${inner}` : null;
    }
    return r.why;
  }
  return cidrContains(V6_GLOBAL, p) ? null : 'not global unicast (outside 2000::/3)';
}
