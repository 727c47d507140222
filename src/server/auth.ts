// Authentication and admission for /api/*, /ws (and /metrics with METRICS_AUTH=true), CONTRACT §3:
// bearer keys (`Authorization: Bearer <key>`, or `?token=<key>` on /ws only) or HMAC-signed
// requests (X-Timestamp, X-Nonce, X-Signature; 300 s window; nonces not accepted twice).
//
// Order of checks for every request: per-address throttle of failed attempts → per-address rate
// limit → credentials → per-credential rate limit. The address limits run before the credential
// check so that guessing keys is throttled. Failures are audited (`auth.failed`, actor
// `ip:<address>`) without the presented secret.
//
// With neither API_KEYS nor SIGNING_SECRET the server is loopback-only (enforced at start-up),
// open, and unlimited: every request is `anonymous`.
//
// Nonces: an in-process NonceCache by default (the single SQLite instance); on PostgreSQL the
// store's shared `nonces` table (storeNonceChecker), so a replay sent to another instance is caught.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { AuditLog } from '../observability/audit.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { NonceCache } from '../security/nonce-cache.ts';
import {
  type RawBody,
  SIGNATURE_WINDOW_S,
  type VerifyFailure,
  verifySignature,
} from '../security/signing.ts';
import type { Store } from '../store/types.ts';
import { RateLimiter } from './rate-limit.ts';
import type { UpgradeAuth } from './ws.ts';

export function authConfigured(config: Pick<Config, 'apiKeys' | 'signingSecret'>): boolean {
  return config.apiKeys.length > 0 || Boolean(config.signingSecret);
}

export const ANONYMOUS = 'anonymous';
export const SIGNED_CREDENTIAL = 'signed:tier1';

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/**
 * The stable, non-secret id of an API key: `key:<first 12 hex of SHA-256("credential-id:" + key)>`.
 * Same key → same id across restarts and instances; usable as an audit actor and limiter key.
 */
export function credentialId(key: string): string {
  return `key:${sha256(`credential-id:${key}`).toString('hex').slice(0, 12)}`;
}

export type AuthScheme = 'bearer' | 'signature' | 'none';
export type AuthFailureReason = 'missing_credentials' | 'invalid_bearer' | 'replayed_nonce' | VerifyFailure;

const FAILURE_MESSAGES: Record<AuthFailureReason, string> = {
  missing_credentials:
    'missing credentials: send Authorization: Bearer <key> or a signed request (X-Timestamp, X-Nonce, X-Signature)',
  invalid_bearer: 'invalid bearer token',
  replayed_nonce: 'request signature rejected: nonce already used (replay)',
  missing_headers: 'request signature rejected: X-Timestamp, X-Nonce and X-Signature are all required',
  bad_timestamp: 'request signature rejected: X-Timestamp must be unix seconds',
  stale: `request signature rejected: timestamp outside the ±${SIGNATURE_WINDOW_S} s window`,
  bad_nonce: 'request signature rejected: X-Nonce must be 8–128 characters of [A-Za-z0-9_-]',
  bad_signature: 'request signature rejected: signature does not match',
};

/** A 401 with the (non-secret) reason, for the audit log. */
export class AuthFailure extends AppError {
  readonly scheme: AuthScheme;
  readonly reason: AuthFailureReason;
  constructor(scheme: AuthScheme, reason: AuthFailureReason) {
    super('unauthorized', FAILURE_MESSAGES[reason]);
    this.scheme = scheme;
    this.reason = reason;
  }
}

export interface AuthRequest {
  method: string;
  /** The request target exactly as sent (path and query): what the signature covers. */
  pathWithQuery: string;
  header(name: string): string | undefined;
  /** The raw body; only read for signed requests. */
  rawBody(): Promise<RawBody>;
  /** `?token=` — accepted on /ws only, so only the upgrade path passes it. */
  queryToken?: string;
}

/** How long an accepted nonce is remembered: twice the ±window, so no valid timestamp outlives it. */
export const NONCE_TTL_MS = SIGNATURE_WINDOW_S * 2 * 1000;

/**
 * Records a nonce of a correctly signed request; resolves false when it was already accepted within
 * NONCE_TTL_MS (a replay). A rejection (e.g. the database is down) fails the request.
 */
export type NonceChecker = (nonce: string) => boolean | Promise<boolean>;

/** The in-process checker: enough for one instance (the embedded SQLite store). */
export function memoryNonceChecker(): NonceChecker {
  const cache = new NonceCache(NONCE_TTL_MS);
  return (nonce) => cache.accept(nonce);
}

/**
 * The checker for `store`: the shared `nonces` table on PostgreSQL (several instances share the
 * database, so each must see the others' nonces), the in-process cache on SQLite (one instance;
 * no write per signed request).
 */
export function storeNonceChecker(store: Pick<Store, 'dialect' | 'acceptNonce'>): NonceChecker {
  if (store.dialect !== 'postgres') return memoryNonceChecker();
  return (nonce) => store.acceptNonce(nonce, new Date(Date.now() + NONCE_TTL_MS).toISOString());
}

/** Verifies credentials; knows nothing about limits or audit. */
export class Authenticator {
  private keys: Array<{ digest: Buffer; id: string }>;
  private secret?: string;
  private acceptNonce: NonceChecker;
  readonly enabled: boolean;

  /** `acceptNonce`: where accepted nonces are recorded; default an in-process cache. */
  constructor(config: Pick<Config, 'apiKeys' | 'signingSecret'>, acceptNonce?: NonceChecker) {
    this.keys = config.apiKeys.map((k) => ({ digest: sha256(k), id: credentialId(k) }));
    this.secret = config.signingSecret;
    this.enabled = authConfigured(config);
    this.acceptNonce = acceptNonce ?? memoryNonceChecker();
  }

  /** Returns the credential id, or throws AuthFailure (401). */
  async authenticate(req: AuthRequest): Promise<string> {
    if (!this.enabled) return ANONYMOUS;
    const authz = req.header('authorization');
    const bearer = authz?.match(/^Bearer[ \t]+(\S.*)$/i)?.[1]?.trim() ?? req.queryToken;
    if (bearer !== undefined && this.keys.length > 0) {
      const id = this.matchKey(bearer);
      if (id) return id;
      throw new AuthFailure('bearer', 'invalid_bearer');
    }
    const signature = req.header('x-signature');
    if (signature !== undefined && this.secret) {
      const nonce = req.header('x-nonce');
      const res = verifySignature({
        secret: this.secret,
        timestamp: req.header('x-timestamp'),
        nonce,
        signature,
        method: req.method,
        pathWithQuery: req.pathWithQuery,
        rawBody: await req.rawBody(),
      });
      if (!res.ok) throw new AuthFailure('signature', res.reason);
      // Only requests with a valid signature reach the nonce record, so guessers cannot flood it.
      if (!(await this.acceptNonce(nonce as string))) throw new AuthFailure('signature', 'replayed_nonce');
      return SIGNED_CREDENTIAL;
    }
    if (bearer !== undefined) throw new AuthFailure('bearer', 'invalid_bearer');
    throw new AuthFailure('none', 'missing_credentials');
  }

  /** Compares against every key in constant time (no early exit, equal-length digests). */
  private matchKey(token: string): string | undefined {
    const given = sha256(token);
    let found: string | undefined;
    for (const k of this.keys) {
      if (timingSafeEqual(given, k.digest)) found = k.id;
    }
    return found;
  }
}

export interface AdmitRequest extends AuthRequest {
  /** Client address (the socket's peer). */
  ip: string;
  /** Path without the query (the query may carry a token); used in audit records. */
  path: string;
  transport: 'http' | 'ws';
}

const rateLimited = (message: string, retryAfterS: number) =>
  new AppError('rate_limited', message, { retryAfterS });

/** Authentication + rate limits + WebSocket connection caps + auditing of failures. */
export class AccessGuard {
  readonly authenticator: Authenticator;
  private perIp: RateLimiter;
  private perCredential: RateLimiter;
  private failures: RateLimiter;
  private wsOpen = new Map<string, number>();
  private maxWs: number;
  private audit?: AuditLog;
  private logger?: Logger;
  private metrics?: Pick<Metrics, 'authFailures'>;

  constructor(opts: {
    config: Pick<
      Config,
      | 'apiKeys'
      | 'signingSecret'
      | 'rateLimitPerMinute'
      | 'rateLimitBurst'
      | 'rateLimitIpPerMinute'
      | 'authFailuresPerMinute'
      | 'maxWsPerCredential'
    >;
    audit?: AuditLog;
    logger?: Logger;
    /** `agent_auth_failures_total{reason}`: the 401 reasons, and `rate_limited` for 429s. */
    metrics?: Pick<Metrics, 'authFailures'>;
    /** Replay check of signed requests (see storeNonceChecker); default an in-process cache. */
    acceptNonce?: NonceChecker;
  }) {
    const c = opts.config;
    this.authenticator = new Authenticator(c, opts.acceptNonce);
    this.perCredential = new RateLimiter({ perMinute: c.rateLimitPerMinute, burst: c.rateLimitBurst });
    const ipFactor = c.rateLimitIpPerMinute / c.rateLimitPerMinute;
    this.perIp = new RateLimiter({
      perMinute: c.rateLimitIpPerMinute,
      burst: Math.max(1, Math.round(c.rateLimitBurst * ipFactor)),
    });
    this.failures = new RateLimiter({ perMinute: c.authFailuresPerMinute, burst: c.authFailuresPerMinute });
    this.maxWs = c.maxWsPerCredential;
    this.audit = opts.audit;
    this.logger = opts.logger;
    this.metrics = opts.metrics;
  }

  get enabled(): boolean {
    return this.authenticator.enabled;
  }

  /** Returns the credential id, or throws 401 `unauthorized` / 429 `rate_limited`. */
  async admit(req: AdmitRequest): Promise<string> {
    if (!this.enabled) return ANONYMOUS;
    const now = Date.now();
    const blocked = this.failures.check(req.ip, now);
    if (!blocked.ok) {
      throw this.limited(
        'too many failed authentication attempts from this address; retry later',
        blocked.retryAfterS,
      );
    }
    const ip = this.perIp.take(req.ip, now);
    if (!ip.ok) throw this.limited('too many requests from this address', ip.retryAfterS);
    let credential: string;
    try {
      credential = await this.authenticator.authenticate(req);
    } catch (err) {
      if (err instanceof AuthFailure) {
        this.failures.take(req.ip);
        this.recordFailure(req, err);
      }
      throw err;
    }
    const cred = this.perCredential.take(credential, now);
    if (!cred.ok) throw this.limited('rate limit exceeded for this credential', cred.retryAfterS);
    return credential;
  }

  private limited(message: string, retryAfterS: number): AppError {
    this.metrics?.authFailures.inc({ reason: 'rate_limited' });
    return rateLimited(message, retryAfterS);
  }

  /** Counts a WebSocket connection against its credential's cap; throws 429 when full. */
  acquireWs(credential: string): void {
    if (!this.enabled) return;
    const n = this.wsOpen.get(credential) ?? 0;
    if (n >= this.maxWs)
      throw this.limited(`at most ${this.maxWs} concurrent WebSocket connections per credential`, 10);
    this.wsOpen.set(credential, n + 1);
  }

  releaseWs(credential: string): void {
    const n = this.wsOpen.get(credential);
    if (n === undefined) return;
    if (n <= 1) this.wsOpen.delete(credential);
    else this.wsOpen.set(credential, n - 1);
  }

  wsConnections(credential: string): number {
    return this.wsOpen.get(credential) ?? 0;
  }

  private recordFailure(req: AdmitRequest, err: AuthFailure): void {
    const details = {
      method: req.method,
      path: req.path,
      transport: req.transport,
      scheme: err.scheme,
      reason: err.reason,
    };
    this.metrics?.authFailures.inc({ reason: err.reason });
    this.logger?.warn('authentication failed', { ip: req.ip, ...details });
    void this.audit?.record({
      actor: `ip:${req.ip}`,
      action: 'auth.failed',
      target: req.path,
      outcome: 'denied',
      details,
    });
  }
}

/** The peer address of a request (IPv4-mapped IPv6 shown as IPv4). */
export function clientIp(incoming: IncomingMessage | undefined): string {
  const addr = incoming?.socket?.remoteAddress;
  if (!addr) return 'unknown';
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

export function setCredential(c: Context, credential: string): void {
  c.set('credential' as never, credential as never);
}

/** The credential id `apiGuard` admitted the request with (undefined on routes without auth). */
export function getCredential(c: Context): string | undefined {
  const v: unknown = c.get('credential' as never);
  return typeof v === 'string' ? v : undefined;
}

/** Hono middleware for /api/* (and /metrics when METRICS_AUTH=true). */
export function apiGuard(guard: AccessGuard): MiddlewareHandler {
  return async (c, next) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    let pathWithQuery = incoming?.url;
    if (!pathWithQuery) {
      const u = new URL(c.req.url);
      pathWithQuery = u.pathname + u.search;
    }
    const credential = await guard.admit({
      method: c.req.method,
      pathWithQuery,
      path: c.req.path,
      ip: clientIp(incoming),
      transport: 'http',
      header: (n) => c.req.header(n),
      rawBody: async () => new Uint8Array(await c.req.arrayBuffer()),
    });
    setCredential(c, credential);
    await next();
  };
}

/** Admission for the /ws upgrade, with the per-credential connection cap. */
export function upgradeAuth(guard: AccessGuard): UpgradeAuth {
  return {
    authenticate: async (req: IncomingMessage) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const header = (n: string) => {
        const v = req.headers[n.toLowerCase()];
        return Array.isArray(v) ? v[0] : v;
      };
      const credential = await guard.admit({
        method: req.method ?? 'GET',
        pathWithQuery: req.url ?? '/ws',
        path: url.pathname,
        ip: clientIp(req),
        transport: 'ws',
        header,
        rawBody: async () => '',
        queryToken: url.searchParams.get('token') ?? undefined,
      });
      guard.acquireWs(credential);
      return credential;
    },
    release: (credential: string) => guard.releaseWs(credential),
  };
}

// --- OpenAPI ---------------------------------------------------------------------------------

/** Global security requirement of the document: either scheme. */
export const API_SECURITY: Array<Record<string, string[]>> = [{ bearerAuth: [] }, { signedRequest: [] }];

/**
 * Registers the security schemes and marks the routes outside /api as open (`security: []`),
 * except /metrics when it needs auth. Call after every route is registered.
 */
export function documentSecurity(app: OpenAPIHono, opts: { metricsAuth: boolean }): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'A key from API_KEYS: `Authorization: Bearer <key>`. For /ws also `?token=<key>`.',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'signedRequest', {
    type: 'apiKey',
    in: 'header',
    name: 'X-Signature',
    description:
      'HMAC-signed request (Tier 1): headers `X-Timestamp: <unix seconds>`, `X-Nonce: <8–128 chars of [A-Za-z0-9_-]>` and ' +
      '`X-Signature: sha256=<hex HMAC-SHA256(SIGNING_SECRET, "<timestamp>.<nonce>.<METHOD>.<path+query as sent>.<raw body>")>`. ' +
      `Rejected when |now − timestamp| > ${SIGNATURE_WINDOW_S} s or when the nonce was already accepted (replay).`,
  });
  for (const def of app.openAPIRegistry.definitions) {
    if (def.type !== 'route') continue;
    const p = def.route.path;
    const open = !p.startsWith('/api/') && !(p === '/metrics' && opts.metricsAuth);
    if (open) def.route.security = [];
  }
}
