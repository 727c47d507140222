// Authentication for /api/* and /ws (CONTRACT §3): bearer keys or HMAC-signed requests.
// With neither configured the server is loopback-only (enforced at start-up) and open.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import { NonceCache } from '../security/nonce-cache.ts';
import { SIGNATURE_WINDOW_S, verifySignature } from '../security/signing.ts';

export function authConfigured(config: Config): boolean {
  return config.apiKeys.length > 0 || Boolean(config.signingSecret);
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time match against every configured key; returns a non-secret credential id. */
function matchBearer(config: Config, token: string): string | undefined {
  const given = digest(token);
  let found: string | undefined;
  for (const key of config.apiKeys) {
    if (timingSafeEqual(given, digest(key))) found = `key:${digest(key).toString('hex').slice(0, 12)}`;
  }
  return found;
}

export class Authenticator {
  private config: Config;
  private nonces = new NonceCache(SIGNATURE_WINDOW_S * 1000 * 2);
  constructor(config: Config) {
    this.config = config;
  }

  /** Returns the credential id, or throws `unauthorized`. */
  authenticate(req: { method: string; pathWithQuery: string; header(name: string): string | undefined; rawBody: () => Promise<string>; queryToken?: string }): Promise<string> {
    return this.check(req);
  }

  private async check(req: { method: string; pathWithQuery: string; header(name: string): string | undefined; rawBody: () => Promise<string>; queryToken?: string }): Promise<string> {
    if (!authConfigured(this.config)) return 'anonymous';
    const authz = req.header('authorization');
    const bearer = authz?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim() ?? req.queryToken;
    if (bearer !== undefined && this.config.apiKeys.length > 0) {
      const id = matchBearer(this.config, bearer);
      if (id) return id;
      throw new AppError('unauthorized', 'invalid bearer token');
    }
    const signature = req.header('x-signature');
    if (signature !== undefined && this.config.signingSecret) {
      const res = verifySignature({
        secret: this.config.signingSecret,
        timestamp: req.header('x-timestamp'),
        nonce: req.header('x-nonce'),
        signature,
        method: req.method,
        pathWithQuery: req.pathWithQuery,
        rawBody: await req.rawBody(),
      });
      if (!res.ok) throw new AppError('unauthorized', `request signature rejected: ${res.reason.replace(/_/g, ' ')}`);
      if (!this.nonces.accept(req.header('x-nonce')!)) throw new AppError('unauthorized', 'request signature rejected: nonce already used (replay)');
      return 'signed:tier1';
    }
    throw new AppError('unauthorized', 'missing credentials: send Authorization: Bearer <key> or a signed request (X-Timestamp, X-Nonce, X-Signature)');
  }
}

/** The path and query exactly as sent (what the signature covers). */
function rawPathWithQuery(url: string, incoming?: IncomingMessage): string {
  if (incoming?.url) return incoming.url;
  const u = new URL(url);
  return u.pathname + u.search;
}

export function apiAuth(auth: Authenticator): MiddlewareHandler {
  return async (c, next) => {
    const env = c.env as { incoming?: IncomingMessage } | undefined;
    const credential = await auth.authenticate({
      method: c.req.method,
      pathWithQuery: rawPathWithQuery(c.req.url, env?.incoming),
      header: (n) => c.req.header(n),
      rawBody: () => c.req.text(),
    });
    c.set('credential' as never, credential as never);
    await next();
  };
}

export function upgradeAuth(auth: Authenticator) {
  return {
    authenticate: (req: IncomingMessage) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const header = (n: string) => {
        const v = req.headers[n.toLowerCase()];
        return Array.isArray(v) ? v[0] : v;
      };
      return auth.authenticate({
        method: 'GET',
        pathWithQuery: req.url ?? '/ws',
        header,
        rawBody: async () => '',
        queryToken: url.searchParams.get('token') ?? undefined,
      });
    },
  };
}
