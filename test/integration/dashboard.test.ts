// The dashboard's server side (docs/api.md §12): `/` redirects to `/ui/`, the app is served with a
// strict CSP and security headers, the built HTML has no inline script or style, assets are cached
// and compressed, and the bundle is built once per version of its inputs (atomically, also when
// two processes build at once). The browser side is in test/ui/.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.ts';
import { UI_CSP } from '../../src/server/ui.ts';
import { inputHash, prepareUiBundle } from '../../src/server/ui-build.ts';
import { api, json, startTestServer, type TestServer, tempDir } from '../helpers/server.ts';

const CHECKOUT = path.resolve(import.meta.dirname, '../..');
const SOURCE = path.join(CHECKOUT, 'ui');
const LOCK = path.join(CHECKOUT, 'package-lock.json');

const noRedirect = (url: string, init: RequestInit = {}) => fetch(url, { ...init, redirect: 'manual' });

describe('dashboard routes', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ API_KEYS: 'k-dashboard', UI_ENABLED: 'true' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('redirects / and /ui to /ui/ without credentials', async () => {
    const root = await noRedirect(`${server.url}/`);
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/ui/');
    const bare = await noRedirect(`${server.url}/ui`);
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/ui/');
  });

  it('serves the app as text/html with a strict CSP and the security headers', async () => {
    const res = await fetch(`${server.url}/ui/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toBe(UI_CSP);
    const directives = new Map(
      csp.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]),
    );
    expect(directives.get('default-src')).toBe("'self'");
    expect(directives.get('script-src')).toBe("'self'");
    expect(directives.get('style-src')).toBe("'self'");
    expect(directives.get('connect-src')).toBe("'self'");
    expect(directives.get('frame-ancestors')).toBe("'none'");
    expect(directives.get('base-uri')).toBe("'none'");
    expect(directives.get('form-action')).toBe("'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-cache');
  });

  it('has no inline script, style or event handler in its HTML; every script and stylesheet is a file of /ui/', async () => {
    const html = await (await fetch(`${server.url}/ui/`)).text();
    expect(html).not.toMatch(/<style/i);
    expect(html).not.toMatch(/\sstyle=/i);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/gi)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(body?.trim()).toBe('');
      expect(attrs).toMatch(/src="assets\/app-[A-Z0-9]+\.js"/);
    }
    const links = [...html.matchAll(/<(?:script|link)[^>]+(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    for (const l of links) {
      if (l.startsWith('data:')) continue;
      const res = await fetch(new URL(l, `${server.url}/ui/`));
      expect(res.status, l).toBe(200);
      expect(res.headers.get('content-security-policy')).toBe(UI_CSP);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    }
  });

  it('compresses and revalidates assets', async () => {
    const html = await (await fetch(`${server.url}/ui/`)).text();
    const js = html.match(/src="(assets\/[^"]+\.js)"/)?.[1];
    const url = `${server.url}/ui/${js}`;
    const raw = await fetch(url, { headers: { 'Accept-Encoding': 'identity' } });
    const body = await raw.arrayBuffer();
    expect(raw.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(raw.headers.get('content-encoding')).toBeNull();
    // fetch decompresses; the header says what was sent.
    const br = await fetch(url, { headers: { 'Accept-Encoding': 'br' } });
    expect(br.headers.get('content-encoding')).toBe('br');
    expect((await br.arrayBuffer()).byteLength).toBe(body.byteLength);
    const gz = await fetch(url, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    await gz.arrayBuffer();
    const etag = raw.headers.get('etag') ?? '';
    const again = await fetch(url, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
  });

  it('answers unknown files with a 404 in the error format, headers included', async () => {
    for (const p of [
      '/ui/nope.js',
      '/ui/assets/../../package.json',
      '/ui/%2e%2e/package.json',
      '/ui/bundle.json',
    ]) {
      const res = await fetch(`${server.url}${p}`);
      expect(res.status, p).toBe(404);
      expect((await json<{ error: { code: string } }>(res)).error.code).toBe('not_found');
    }
    const res = await fetch(`${server.url}/ui/nope.js`);
    expect(res.headers.get('content-security-policy')).toBe(UI_CSP);
  });

  it('tells the page whether it needs a key, and nothing else', async () => {
    const res = await fetch(`${server.url}/ui/server.json`);
    expect(await res.json()).toEqual({ authRequired: true, version: expect.any(String) });
  });

  it('keeps the API behind auth: the dashboard opens nothing', async () => {
    expect((await api(server.url, 'GET', '/api/sessions')).status).toBe(401);
  });
});

describe('dashboard off', () => {
  it('UI_ENABLED=false: no /ui/ and no redirect', async () => {
    const server = await startTestServer({ UI_ENABLED: 'false' });
    try {
      expect((await noRedirect(`${server.url}/`)).status).toBe(404);
      expect((await fetch(`${server.url}/ui/`)).status).toBe(404);
      expect(server.runtime.dashboard).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});

describe('dashboard build', () => {
  it('builds once into a directory named by its inputs, then reuses it', async () => {
    const out = await tempDir('ui-build-');
    const first = await prepareUiBundle({
      sourceDir: SOURCE,
      lockFile: LOCK,
      outRoots: [out],
      logger: silentLogger,
    });
    expect(first.built).toBe(true);
    expect(first.dir).toBe(path.join(out, (await inputHash({ sourceDir: SOURCE, lockFile: LOCK }))!));
    expect(first.files).toContain('index.html');
    const again = await prepareUiBundle({ sourceDir: SOURCE, lockFile: LOCK, outRoots: [out] });
    expect(again).toMatchObject({ built: false, dir: first.dir });
    // Nothing half-built is left next to it.
    expect((await fs.readdir(out)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });

  it('two builds at once leave one complete bundle', async () => {
    const out = await tempDir('ui-build-');
    const [a, b] = await Promise.all([
      prepareUiBundle({ sourceDir: SOURCE, lockFile: LOCK, outRoots: [out] }),
      prepareUiBundle({ sourceDir: SOURCE, lockFile: LOCK, outRoots: [out] }),
    ]);
    expect(a.dir).toBe(b.dir);
    expect(await fs.readdir(out)).toEqual([path.basename(a.dir)]);
    for (const f of a.files) await fs.access(path.join(a.dir, f));
  });

  it('counts a changed source file or lock file as stale', async () => {
    const copy = await tempDir('ui-src-');
    await fs.cp(SOURCE, copy, { recursive: true });
    const before = await inputHash({ sourceDir: copy, lockFile: LOCK });
    await fs.appendFile(path.join(copy, 'src', 'styles.css'), '\n/* changed */\n');
    const after = await inputHash({ sourceDir: copy, lockFile: LOCK });
    expect(after).not.toBe(before);
    const lock = path.join(copy, 'lock.json');
    await fs.writeFile(lock, '{"a":1}');
    const withLock = await inputHash({ sourceDir: copy, lockFile: lock });
    await fs.writeFile(lock, '{"a":2}');
    expect(await inputHash({ sourceDir: copy, lockFile: lock })).not.toBe(withLock);
  });

  it('serves a shipped bundle when ui/ is absent, and says why when there is none', async () => {
    const out = await tempDir('ui-build-');
    const built = await prepareUiBundle({ sourceDir: SOURCE, lockFile: LOCK, outRoots: [out] });
    const missing = path.join(out, 'no-such-ui');
    const shipped = await prepareUiBundle({ sourceDir: missing, lockFile: LOCK, outRoots: [out] });
    expect(shipped).toMatchObject({ dir: built.dir, built: false });
    await expect(
      prepareUiBundle({ sourceDir: missing, lockFile: LOCK, outRoots: [await tempDir('ui-empty-')] }),
    ).rejects.toThrow(/missing and no built bundle/);
  });
});
