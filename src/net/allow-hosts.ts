// Which destinations a server-side request (workflow callback, alert webhook) may reach: public
// addresses, plus what the operator lists in CALLBACK_ALLOW_HOSTS (host names, IPs, CIDRs).
// Everything else — loopback, private, link-local, metadata, reserved — is refused.
import { type Cidr, cidrContains, isIpLiteral, parseCidr, parseIp, refusedAddressReason } from './address.ts';

export interface HostAllowList {
  /** Lower-case host names without a trailing dot; matched exactly. */
  names: string[];
  /** IP literals (as /32 or /128) and CIDRs. */
  cidrs: Cidr[];
}

const HOSTNAME =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** Lower-case, without `[...]` and without a trailing dot: the form hosts are compared in. */
export function normalizeHostName(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/**
 * Parses allowlist entries (`evil.example`, `127.0.0.1`, `[::1]`, `10.0.0.0/8`, `fd00::/8`).
 * Throws an Error naming the first bad entry; `name` is the variable, for the message.
 */
export function parseHostAllowList(entries: string[], name = 'CALLBACK_ALLOW_HOSTS'): HostAllowList {
  const list: HostAllowList = { names: [], cidrs: [] };
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    const host = normalizeHostName(entry);
    if (entry.includes('/') || isIpLiteral(host)) {
      const cidr = parseCidr(host);
      if (!cidr) throw new Error(`${name}: "${raw}" is not a valid IP address or CIDR`);
      list.cidrs.push(cidr);
    } else if (HOSTNAME.test(host)) {
      list.names.push(host);
    } else {
      throw new Error(
        `${name}: "${raw}" is not a host name, IP address or CIDR (no wildcards, ports or schemes)`,
      );
    }
  }
  return list;
}

/** Is the host (a URL's host name or IP literal) listed by name, or its IP in a listed CIDR? */
export function hostAllowed(list: HostAllowList, host: string): boolean {
  const h = normalizeHostName(host);
  const ip = parseIp(h);
  if (ip) return list.cidrs.some((c) => cidrContains(c, ip));
  return list.names.includes(h);
}

/** Is this resolved address in a listed CIDR? */
export function addressAllowed(list: HostAllowList, address: string): boolean {
  return list.cidrs.some((c) => cidrContains(c, address));
}

/** `localhost` and `*.localhost` always mean this machine (RFC 6761), whatever DNS says. */
export function isLocalhostName(host: string): boolean {
  const h = normalizeHostName(host);
  return h === 'localhost' || h.endsWith('.localhost');
}

/**
 * The submit-time check of a URL's host: why it is refused when it is an IP literal (any spelling)
 * in a refused range, or a localhost name, and not allowed by `list`; else null. Other host names
 * are judged at delivery, after resolution (`addressRefusal`).
 */
export function literalHostRefusal(list: HostAllowList, host: string): string | null {
  if (hostAllowed(list, host)) return null;
  if (isLocalhostName(host)) return 'a localhost name (loopback)';
  if (!isIpLiteral(normalizeHostName(host))) return null;
  return refusedAddressReason(normalizeHostName(host));
}

/**
 * The delivery-time check of one resolved address of `host`: null when the host is listed by
 * name, the address is in a listed CIDR, or the address is public; else why it is refused.
 */
export function addressRefusal(list: HostAllowList, host: string, address: string): string | null {
  if (hostAllowed(list, host) || addressAllowed(list, address)) return null;
  if (isLocalhostName(host)) return 'a localhost name (loopback)';
  return refusedAddressReason(address);
}
