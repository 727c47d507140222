// POSTs a body to a URL a client supplied (workflow callbacks, alert webhooks) without letting that
// URL reach internal services (SSRF):
// - http/https only; the host is resolved ONCE and every address is checked (allow-hosts.ts);
// - the connection goes to a checked address (a custom `lookup` hands the socket the addresses
//   already checked, so there is no second resolution and no DNS rebinding), while TLS still
//   verifies the certificate against the host name;
// - redirects are not followed (a 3xx is a failure like any non-2xx);
// - one deadline covers resolution, connect, TLS and the response headers;
// - the response body is never read.
// The error reported is COARSE: it never carries an address, an errno text or a response body, so
// the caller can show it to the client that chose the URL without leaking what answered.
import { promises as dnsp, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { addressRefusal, type HostAllowList, normalizeHostName } from './allow-hosts.ts';

/** Resolves a host name to all its addresses (tests inject one that answers loopback). */
export type HostLookup = (host: string) => Promise<string[]>;

export const defaultHostLookup: HostLookup = async (host) =>
  (await dnsp.lookup(host, { all: true, verbatim: true })).map((r) => r.address);

/** The only error texts safePost reports (plus `HTTP <status>`). */
export const POST_ERRORS = {
  refused: 'refused: destination not allowed',
  invalidUrl: 'invalid url',
  dns: 'dns lookup failed',
  connect: 'connect failed',
  tls: 'tls error',
  timeout: 'timeout',
  closed: 'connection closed before a response',
} as const;

export type SafePostResult =
  | { ok: true; status: number }
  | {
      ok: false;
      /** Coarse: one of POST_ERRORS or `HTTP <status>`; safe to store and show to the client. */
      error: string;
      status?: number;
      /** True when retrying cannot help (destination refused, bad URL). */
      permanent: boolean;
      /** Detail for the server's own log only (may name internal addresses); never show or store it. */
      detail?: string;
    };

export interface SafePostOptions {
  url: string;
  body: string | Uint8Array;
  headers?: Record<string, string>;
  /** Extra destinations allowed despite being loopback/private/... (CALLBACK_ALLOW_HOSTS). */
  allow: HostAllowList;
  /** Deadline for the whole attempt: resolution, connect, TLS, response headers. */
  timeoutMs: number;
  lookup?: HostLookup;
}

class Deadline extends Error {}

const fail = (error: string, permanent: boolean, detail?: string): SafePostResult => ({
  ok: false,
  error,
  permanent,
  ...(detail ? { detail } : {}),
});

function isTlsError(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return (
    /TLS|SSL|CERT|ALTNAME|SIGNATURE|VERIFY|HOSTNAME_MISMATCH/i.test(code) ||
    (err as { library?: string }).library === 'SSL routines'
  );
}

/** Resolves and checks the destination; returns the addresses to connect to, or a refusal. */
async function checkedAddresses(
  host: string,
  allow: HostAllowList,
  lookup: HostLookup,
): Promise<{ addresses: string[] } | { refused: string } | { dnsError: string }> {
  let addresses: string[];
  if (net.isIP(host)) addresses = [host];
  else {
    try {
      addresses = await lookup(host);
    } catch (err) {
      return { dnsError: (err as Error).message };
    }
    if (addresses.length === 0) return { dnsError: 'no addresses' };
  }
  for (const a of addresses) {
    const why = addressRefusal(allow, host, a);
    if (why) return { refused: `${host} → ${a}: ${why}` };
  }
  return { addresses };
}

export async function safePost(o: SafePostOptions): Promise<SafePostResult> {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    return fail(POST_ERRORS.invalidUrl, true);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail(POST_ERRORS.invalidUrl, true);
  // URL has already normalised IPv4 spellings (2130706433 → 127.0.0.1); strip IPv6 brackets.
  const host = normalizeHostName(url.hostname);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Deadline()), o.timeoutMs);
  try {
    const dest = await Promise.race([
      checkedAddresses(host, o.allow, o.lookup ?? defaultHostLookup),
      new Promise<never>((_, reject) => {
        controller.signal.addEventListener('abort', () => reject(new Deadline()), { once: true });
      }),
    ]);
    if ('refused' in dest) return fail(POST_ERRORS.refused, true, dest.refused);
    if ('dnsError' in dest) return fail(POST_ERRORS.dns, false, dest.dnsError);
    return await send(url, dest.addresses, o, controller.signal);
  } catch (err) {
    if (err instanceof Deadline) return fail(POST_ERRORS.timeout, false);
    return fail(POST_ERRORS.connect, false, (err as Error).message);
  } finally {
    clearTimeout(timer);
  }
}

function send(
  url: URL,
  addresses: string[],
  o: SafePostOptions,
  signal: AbortSignal,
): Promise<SafePostResult> {
  const family = (a: string) => (net.isIPv6(a) ? 6 : 4);
  // Hands the socket the addresses checked above, whatever name it asks for: no second lookup.
  const pinned = (
    _host: string,
    opts: { all?: boolean },
    cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    const first = addresses[0] as string;
    if (opts.all)
      cb(
        null,
        addresses.map((address) => ({ address, family: family(address) })),
      );
    else cb(null, first, family(first));
  };
  const body = typeof o.body === 'string' ? Buffer.from(o.body) : o.body;
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<SafePostResult>((resolve) => {
    let connected = false;
    const req = mod.request(url, {
      method: 'POST',
      headers: { ...o.headers, 'Content-Length': String(body.byteLength) },
      lookup: pinned as unknown as net.LookupFunction,
      agent: false, // a fresh connection: never a pooled socket to another address
      signal,
    });
    req.on('socket', (s) => {
      s.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
        connected = true;
      });
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.destroy(); // the body is never read
      if (status >= 200 && status < 300) resolve({ ok: true, status });
      else resolve({ ok: false, error: `HTTP ${status}`, status, permanent: false });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (signal.aborted) resolve(fail(POST_ERRORS.timeout, false));
      else if (isTlsError(err)) resolve(fail(POST_ERRORS.tls, false, err.code ?? err.message));
      else if (connected) resolve(fail(POST_ERRORS.closed, false, err.code ?? err.message));
      else resolve(fail(POST_ERRORS.connect, false, err.code ?? err.message));
    });
    req.end(body);
  });
}
