// safePost against real HTTP(S) servers on loopback: destinations checked after ONE resolution
// (injected resolver: names map to loopback), the connection pinned to the checked address, no
// redirects, a deadline, and errors that never say what answered. No packet leaves loopback: every
// non-loopback address here is refused before any connection is made.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseHostAllowList } from '../../src/net/allow-hosts.ts';
import { type HostLookup, POST_ERRORS, type SafePostResult, safePost } from '../../src/net/safe-post.ts';
import { tempDir } from '../helpers/server.ts';

const PLANTED = 'PLANTED-internal-secret-7d1f';

interface Hit {
  url: string;
  body: string;
  host?: string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const servers: Array<http.Server | https.Server> = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

async function listen(s: http.Server | https.Server, host = '127.0.0.1'): Promise<number> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, host, () => r()));
  return (s.address() as AddressInfo).port;
}

/** A loopback receiver; `handle` answers (default 200 "ok"); every request is recorded. */
async function receiver(handle?: Handler) {
  const hits: Hit[] = [];
  const s = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push({ url: req.url ?? '', body: Buffer.concat(chunks).toString(), host: req.headers.host });
      if (handle) handle(req, res);
      else res.writeHead(200).end('ok');
    });
  });
  const port = await listen(s);
  return { port, hits };
}

/** A resolver from a fixed map that counts its calls. */
function resolver(map: Record<string, string[] | (() => string[])>) {
  const calls: string[] = [];
  const lookup: HostLookup = async (host) => {
    calls.push(host);
    const v = map[host];
    if (!v) throw new Error(`ENOTFOUND ${host} (test resolver)`);
    return typeof v === 'function' ? v() : v;
  };
  return { lookup, calls };
}

const none = parseHostAllowList([]);
const post = (url: string, o: Partial<Parameters<typeof safePost>[0]> = {}) =>
  safePost({ url, body: '{"id":"wf_1"}', allow: none, timeoutMs: 3_000, ...o });

/** The stored error must say nothing about what answered. */
function expectCoarse(r: SafePostResult, port: number) {
  expect(r.ok).toBe(false);
  if (r.ok) return;
  const allowed = [
    ...Object.values(POST_ERRORS),
    ...Array.from({ length: 500 }, (_, i) => `HTTP ${i + 100}`),
  ];
  expect(allowed).toContain(r.error);
  for (const leak of ['127.', '::1', String(port), PLANTED, 'ECONN', 'refused:  ', 'Error'])
    expect(r.error).not.toContain(leak);
}

describe('safePost: destinations', () => {
  it('a name that resolves to loopback is refused without the allowlist; nothing is sent', async () => {
    const rx = await receiver();
    const { lookup } = resolver({ 'evil.test': ['127.0.0.1'] });
    const r = await post(`http://evil.test:${rx.port}/cb`, { lookup });
    expect(r).toMatchObject({ ok: false, error: POST_ERRORS.refused, permanent: true });
    expectCoarse(r, rx.port);
    expect(rx.hits).toHaveLength(0);
  });

  it('the same name is delivered when CALLBACK_ALLOW_HOSTS lists it by name or by CIDR', async () => {
    const rx = await receiver();
    const { lookup } = resolver({ 'evil.test': ['127.0.0.1'] });
    for (const entries of [['evil.test'], ['EVIL.test.'], ['127.0.0.0/8'], ['127.0.0.1']]) {
      const r = await post(`http://evil.test:${rx.port}/cb?x=1`, {
        lookup,
        allow: parseHostAllowList(entries),
      });
      expect(r, entries.join()).toEqual({ ok: true, status: 200 });
    }
    expect(rx.hits).toHaveLength(4);
    expect(rx.hits[0]).toMatchObject({ url: '/cb?x=1', body: '{"id":"wf_1"}', host: `evil.test:${rx.port}` });
  });

  it('any refused address among those resolved refuses the destination (nothing is sent)', async () => {
    const rx = await receiver();
    const { lookup } = resolver({ 'mixed.test': ['127.0.0.1', '10.0.0.1'] });
    const allow = parseHostAllowList(['127.0.0.0/8']);
    const r = await post(`http://mixed.test:${rx.port}/`, { lookup, allow });
    expect(r).toMatchObject({ ok: false, error: POST_ERRORS.refused });
    expect(r.ok ? '' : r.detail).toContain('10.0.0.1'); // the operator's log gets the detail
    expect(rx.hits).toHaveLength(0);
  });

  it.each([
    'http://2130706433:PORT/',
    'http://0x7f000001:PORT/',
    'http://0177.0.0.1:PORT/',
    'http://127.1:PORT/',
    'http://127.1.2.3:PORT/',
    'http://[::1]:PORT/',
    'http://[::ffff:127.0.0.1]:PORT/',
    'http://localhost:PORT/',
    'http://api.localhost:PORT/',
  ])('literal %s is refused without the allowlist', async (u) => {
    const rx = await receiver();
    const { lookup, calls } = resolver({ localhost: ['127.0.0.1'], 'api.localhost': ['127.0.0.1'] });
    const r = await post(u.replace('PORT', String(rx.port)), { lookup });
    expect(r).toMatchObject({ ok: false, error: POST_ERRORS.refused, permanent: true });
    expect(rx.hits).toHaveLength(0);
    if (!u.includes('localhost')) expect(calls).toEqual([]); // IP literals are never resolved
  });

  it('an allowlisted IP literal in another spelling is delivered', async () => {
    const rx = await receiver();
    const allow = parseHostAllowList(['127.0.0.1']);
    expect(await post(`http://2130706433:${rx.port}/a`, { allow })).toEqual({ ok: true, status: 200 });
    expect(await post(`http://[::ffff:127.0.0.1]:${rx.port}/b`, { allow })).toEqual({
      ok: true,
      status: 200,
    });
    expect(rx.hits.map((h) => h.url)).toEqual(['/a', '/b']);
  });

  it('only http and https', async () => {
    for (const u of ['ftp://127.0.0.1/x', 'file:///etc/passwd', 'gopher://evil.test/', 'not a url'])
      expect(await post(u, { allow: parseHostAllowList(['127.0.0.1']) }), u).toMatchObject({
        ok: false,
        error: POST_ERRORS.invalidUrl,
        permanent: true,
      });
  });
});

describe('safePost: pinning (no DNS rebinding)', () => {
  it('resolves once per attempt and connects to the checked address, never asking again', async () => {
    const rx = await receiver();
    // First answer: the allowlisted 127.0.0.1 (where the receiver listens). Any later answer:
    // 127.0.0.2, which is refused (not listed) and has no receiver, so a second resolution would
    // make the request fail or go elsewhere.
    let n = 0;
    const { lookup, calls } = resolver({ 'rebind.test': () => (n++ === 0 ? ['127.0.0.1'] : ['127.0.0.2']) });
    const allow = parseHostAllowList(['127.0.0.1']);
    const r = await post(`http://rebind.test:${rx.port}/pinned`, { lookup, allow });
    expect(r).toEqual({ ok: true, status: 200 });
    expect(calls).toEqual(['rebind.test']);
    expect(rx.hits.map((h) => h.url)).toEqual(['/pinned']);
    // the next attempt resolves again (once) and is refused before connecting
    const r2 = await post(`http://rebind.test:${rx.port}/again`, { lookup, allow });
    expect(r2).toMatchObject({ ok: false, error: POST_ERRORS.refused });
    expect(calls).toEqual(['rebind.test', 'rebind.test']);
    expect(rx.hits).toHaveLength(1);
  });
});

describe('safePost: responses and failures', () => {
  const allow = parseHostAllowList(['127.0.0.1']);

  it('a redirect is not followed: the 302 is the failure, the target gets nothing', async () => {
    const target = await receiver();
    const first = await receiver((_req, res) =>
      res.writeHead(302, { Location: `http://127.0.0.1:${target.port}/stolen` }).end(PLANTED),
    );
    for (const status of [301, 302, 307, 308]) {
      const rx = await receiver((_req, res) =>
        res.writeHead(status, { Location: `http://127.0.0.1:${target.port}/stolen` }).end(),
      );
      expect(await post(`http://127.0.0.1:${rx.port}/cb`, { allow })).toMatchObject({
        ok: false,
        error: `HTTP ${status}`,
      });
    }
    const r = await post(`http://127.0.0.1:${first.port}/cb`, { allow });
    expect(r).toMatchObject({ ok: false, error: 'HTTP 302', status: 302, permanent: false });
    expectCoarse(r, first.port);
    expect(target.hits).toHaveLength(0);
  });

  it('a non-2xx response body and status text never reach the error', async () => {
    const rx = await receiver((_req, res) => {
      res.statusMessage = `${PLANTED} internal-db.corp:5432`;
      res.writeHead(503, { 'X-Leak': PLANTED }).end(`${PLANTED} stack trace of an internal service`);
    });
    const r = await post(`http://127.0.0.1:${rx.port}/cb`, { allow });
    expect(r).toMatchObject({ ok: false, error: 'HTTP 503', status: 503 });
    expectCoarse(r, rx.port);
    expect(JSON.stringify({ ...r, detail: undefined })).not.toContain(PLANTED);
  });

  it('a receiver that never answers → timeout', async () => {
    const rx = await receiver(() => {
      /* never answers */
    });
    const r = await post(`http://127.0.0.1:${rx.port}/cb`, { allow, timeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, error: POST_ERRORS.timeout, permanent: false });
    expect(rx.hits).toHaveLength(1);
  });

  it('a resolver that never answers → timeout too', async () => {
    const lookup: HostLookup = () => new Promise(() => {});
    const r = await post('http://slow.test:1/cb', { lookup, timeoutMs: 200 });
    expect(r).toMatchObject({ ok: false, error: POST_ERRORS.timeout });
  });

  it('a closed port → "connect failed" (no errno, address or port); an unknown name → dns lookup failed', async () => {
    const rx = await receiver();
    const closed = rx.port;
    await new Promise<void>((r) => {
      const s = servers.pop() as http.Server;
      s.close(() => r());
    });
    const r = await post(`http://127.0.0.1:${closed}/cb`, { allow });
    expect(r).toMatchObject({ ok: false, error: POST_ERRORS.connect, permanent: false });
    expectCoarse(r, closed);
    expect(r.ok ? '' : r.detail).toBe('ECONNREFUSED');
    const { lookup } = resolver({});
    expect(await post('http://nowhere.test/cb', { lookup })).toMatchObject({
      ok: false,
      error: POST_ERRORS.dns,
      permanent: false,
    });
  });

  it('https with an untrusted certificate → "tls error" (the certificate is checked although the socket is pinned)', async () => {
    const dir = await tempDir('safe-post-tls-');
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=pinned.test',
        '-addext',
        'subjectAltName=DNS:pinned.test',
      ],
      { stdio: 'ignore' },
    );
    let hits = 0;
    const s = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => {
      hits++;
      res.writeHead(200).end('ok');
    });
    const port = await listen(s);
    const { lookup, calls } = resolver({ 'pinned.test': ['127.0.0.1'] });
    const r = await post(`https://pinned.test:${port}/cb`, { lookup, allow });
    expect(r).toMatchObject({ ok: false, error: POST_ERRORS.tls });
    expectCoarse(r, port);
    expect(calls).toEqual(['pinned.test']);
    expect(hits).toBe(0);
  });
});
