// The dashboard (docs/api.md §12): `GET /ui/` serves the web app built from ui/ (see ui-build.ts),
// `GET /` redirects there. Every answer under /ui carries a strict Content-Security-Policy (only the
// bundle's own script and stylesheet run; no inline code, no frames, no foreign connections) and
// headers that keep the page from being sniffed, framed or leaking its URL in a Referer.
//
// The bundle is small (a few files) and read into memory once, with gzip and brotli copies, so a
// request costs a Map lookup. Hashed assets are cached for a year; index.html is revalidated.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, gzip, constants as zlib } from 'node:zlib';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { AppError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { prepareUiBundle, type UiBuildOptions, type UiBundleInfo } from './ui-build.ts';

export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "object-src 'none'",
  "worker-src 'none'",
  "manifest-src 'self'",
  "frame-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

export const UI_SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': UI_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

const RETRY_BUILD_MS = 30_000;

interface Asset {
  body: Buffer;
  gzip?: Buffer;
  br?: Buffer;
  type: string;
  etag: string;
  immutable: boolean;
}

// On the thread pool, not the event loop: compressing the bundle at the highest levels takes
// ≈ 300 ms of CPU, and done synchronously it stalled the first requests and runs after a start.
const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

async function loadAssets(info: UiBundleInfo): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const rel of info.files) {
    const body = await fs.readFile(path.join(info.dir, rel));
    const type = TYPES[path.extname(rel)] ?? 'application/octet-stream';
    const compressible = /^(text\/|application\/json|image\/svg)/.test(type) && body.length > 512;
    const [gz, br] = compressible
      ? await Promise.all([
          gzipAsync(body, { level: 9 }),
          brotliAsync(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }),
        ])
      : [];
    assets.set(rel, {
      body,
      type,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      immutable: rel.startsWith('assets/'),
      ...(gz && br ? { gzip: gz, br } : {}),
    });
  }
  return assets;
}

export interface Dashboard {
  /** Builds (when missing or stale) and loads the bundle; later calls share the first one's work. */
  prepare(): Promise<void>;
  /** Registers `/`, `/ui` and `/ui/*`. */
  routes(app: OpenAPIHono): void;
  /** What was loaded (benchmarks, tests): the files and their sizes. */
  bundle(): Promise<UiBundleInfo>;
  /** Resolves when a build in progress has ended (shutdown: no work left behind). */
  settle(): Promise<void>;
}

/** What the page may know before signing in: whether it needs a key at all. */
export interface DashboardServerInfo {
  authRequired: boolean;
  version: string;
}

export function createDashboard(
  opts: UiBuildOptions & { logger: Logger; serverInfo: DashboardServerInfo },
): Dashboard {
  let loading: Promise<{ info: UiBundleInfo; assets: Map<string, Asset> }> | undefined;
  let failedAt = Number.NEGATIVE_INFINITY;
  const load = () => {
    // After a failed build, requests get the failure for a while instead of each starting a build.
    if (loading === undefined || (failedAt > 0 && Date.now() - failedAt > RETRY_BUILD_MS)) {
      failedAt = 0;
      loading = (async () => {
        const info = await prepareUiBundle(opts);
        return { info, assets: await loadAssets(info) };
      })();
      loading.catch(() => {
        failedAt = Date.now();
      });
    }
    return loading;
  };

  const secure: MiddlewareHandler = async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(UI_SECURITY_HEADERS)) c.res.headers.set(k, v);
  };

  async function serve(c: Context) {
    let rel = c.req.path.slice('/ui/'.length);
    if (rel === '') rel = 'index.html';
    let loaded: Awaited<ReturnType<typeof load>>;
    try {
      loaded = await load();
    } catch (err) {
      opts.logger.error('the dashboard bundle is not available', { err });
      throw new AppError('unavailable', 'the dashboard could not be built; see the server log', {
        retryAfterS: 30,
      });
    }
    const asset = loaded.assets.get(rel);
    if (!asset) throw new AppError('not_found', `no dashboard file ${rel.slice(0, 200)}`);
    const headers: Record<string, string> = {
      'Content-Type': asset.type,
      ETag: asset.etag,
      'Cache-Control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      Vary: 'Accept-Encoding',
    };
    if (c.req.header('If-None-Match') === asset.etag) return c.body(null, 304, headers);
    const accept = c.req.header('Accept-Encoding') ?? '';
    let body = asset.body;
    if (asset.br && /\bbr\b/.test(accept)) {
      body = asset.br;
      headers['Content-Encoding'] = 'br';
    } else if (asset.gzip && /\bgzip\b/.test(accept)) {
      body = asset.gzip;
      headers['Content-Encoding'] = 'gzip';
    }
    return c.body(new Uint8Array(body), 200, headers);
  }

  return {
    prepare: async () => {
      await load();
    },
    routes(app) {
      app.use('/ui', secure);
      app.use('/ui/*', secure);
      app.get('/', (c) => c.redirect('/ui/', 302));
      app.get('/ui', (c) => c.redirect('/ui/', 301));
      // Lets the page skip the sign-in on a server without auth (loopback only) without probing
      // /api with no credentials, which would be an auth failure in the audit log.
      app.get('/ui/server.json', (c) => {
        c.header('Cache-Control', 'no-store');
        return c.json(opts.serverInfo, 200);
      });
      app.get('/ui/*', serve);
    },
    bundle: async () => (await load()).info,
    settle: async () => {
      await loading?.catch(() => {});
    },
  };
}
