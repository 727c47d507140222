// Address classification for sandbox egress: which IPv4/IPv6 addresses a sandbox may never reach.
import net from 'node:net';

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
