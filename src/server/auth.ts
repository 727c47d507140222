// Authentication for /api/*, /ws (and /metrics with METRICS_AUTH=true), docs/api.md §3: bearer keys
// (`Authorization: Bearer <key>`, or `?token=<key>` on /ws only) or HMAC-signed requests
// (X-Timestamp, X-Nonce, X-Signature; 300 s window; a nonce is never accepted twice in 600 s).
//
// A signed request is checked cheapest first: the three headers, the timestamp window, the nonce
// and signature formats — and only then is its body read (bounded, see body.ts) and the HMAC
// computed. A bearer request's body is never read here.
//
// Limits, failure throttling and auditing are the AccessGuard's (access-guard.ts). With neither
// API_KEYS nor SIGNING_SECRET the server is loopback-only (enforced at start-up), open, and
// unlimited: every request is `anonymous`.
//
// Nonces live in the store's `nonces` table on both dialects (storeNonceChecker): shared by the
// instances on PostgreSQL, and on SQLite they survive a restart — a captured request is not
// accepted again within the window by a restarted server either.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Actor } from '../runs/actions.ts';
import { NonceCache } from '../security/nonce-cache.ts';
import {
  NONCE_RE,
  type RawBody,
  SIGNATURE_WINDOW_S,
  type VerifyFailure,
  verifySignature,
} from '../security/signing.ts';
import type { Store } from '../store/types.ts';
import type { AccessGuard } from './access-guard.ts';
import { readBody } from './body.ts';
import { requestId, requestTraceparent } from './request-telemetry.ts';
import type { UpgradeAuth } from './ws.ts';
import { ticketFromProtocols, ticketNonce, WsTickets } from './ws-ticket.ts';

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

export type AuthScheme = 'bearer' | 'signature' | 'ticket' | 'none';
export type AuthFailureReason =
  | 'missing_credentials'
  | 'invalid_bearer'
  | 'replayed_nonce'
  | 'invalid_ticket'
  | VerifyFailure;

const FAILURE_MESSAGES: Record<AuthFailureReason, string> = {
  missing_credentials:
    'missing credentials: send Authorization: Bearer <key> or a signed request (X-Timestamp, X-Nonce, X-Signature)',
  invalid_bearer: 'invalid bearer token',
  invalid_ticket:
    'invalid WebSocket ticket: unknown, expired or already used; get a new one from POST /api/ws-ticket',
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
  /** The raw body; only read for signed requests whose headers pass the cheap checks. */
  rawBody(): Promise<RawBody>;
  /** `?token=` — accepted on /ws only, so only the upgrade path passes it. */
  queryToken?: string;
  /** A ticket from POST /api/ws-ticket, offered as a subprotocol — /ws only (see ws-ticket.ts). */
  wsTicket?: string;
}

/** How long an accepted nonce is remembered: twice the ±window, so no valid timestamp outlives it. */
export const NONCE_TTL_MS = SIGNATURE_WINDOW_S * 2 * 1000;

/**
 * Records a nonce of a correctly signed request; resolves false when it was already accepted within
 * NONCE_TTL_MS (a replay). A rejection (e.g. the database is down) fails the request.
 */
export type NonceChecker = (nonce: string) => boolean | Promise<boolean>;

/** An in-process checker: forgets everything on restart (unit tests, embedded uses). */
export function memoryNonceChecker(now: () => number = Date.now): NonceChecker {
  const cache = new NonceCache(NONCE_TTL_MS);
  return (nonce) => cache.accept(nonce, now());
}

/**
 * The server's checker: the store's `nonces` table, on SQLite as on PostgreSQL — the record must
 * outlive the process (a restart within the window must not reopen it to replays) and be seen by
 * every instance. One small write per accepted signed request; the store deletes expired rows.
 */
export function storeNonceChecker(
  store: Pick<Store, 'acceptNonce'>,
  now: () => number = Date.now,
): NonceChecker {
  return (nonce) => store.acceptNonce(nonce, new Date(now() + NONCE_TTL_MS).toISOString());
}

const TIMESTAMP_RE = /^\d{1,12}$/;
const SIGNATURE_RE = /^sha256=[0-9a-f]{64}$/i;

/**
 * The checks of a signed request that need neither its body nor the secret (the same rules, in
 * the same order, as verifySignature): run before the body is read, so a request that cannot be
 * valid costs no body read and no HMAC.
 */
export function precheckSignedHeaders(
  h: { timestamp?: string; nonce?: string; signature?: string },
  nowMs = Date.now(),
): VerifyFailure | undefined {
  if (!h.timestamp || !h.nonce || !h.signature) return 'missing_headers';
  if (!TIMESTAMP_RE.test(h.timestamp)) return 'bad_timestamp';
  if (Math.abs(Math.floor(nowMs / 1000) - Number(h.timestamp)) > SIGNATURE_WINDOW_S) return 'stale';
  if (!NONCE_RE.test(h.nonce)) return 'bad_nonce';
  if (!SIGNATURE_RE.test(h.signature)) return 'bad_signature';
  return undefined;
}

/** Verifies credentials; knows nothing about limits or audit. */
export class Authenticator {
  private keys: Array<{ digest: Buffer; id: string }>;
  private secret?: string;
  private acceptNonce: NonceChecker;
  private now: () => number;
  readonly enabled: boolean;
  /** Issues and verifies the WebSocket tickets of this credential set. */
  readonly tickets: WsTickets;

  /**
   * `acceptNonce`: where accepted nonces are recorded; default an in-process cache.
   * `now`: the clock of the signature window (and of the default nonce cache); default Date.now.
   */
  constructor(
    config: Pick<Config, 'apiKeys' | 'signingSecret'>,
    acceptNonce?: NonceChecker,
    now: () => number = Date.now,
  ) {
    this.keys = config.apiKeys.map((k) => ({ digest: sha256(k), id: credentialId(k) }));
    this.secret = config.signingSecret;
    this.enabled = authConfigured(config);
    this.now = now;
    this.acceptNonce = acceptNonce ?? memoryNonceChecker(now);
    const secrets = [...config.apiKeys, ...(config.signingSecret ? [config.signingSecret] : [])];
    this.tickets = new WsTickets(secrets, { now });
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
    if (bearer === undefined && req.wsTicket !== undefined) return this.redeemTicket(req.wsTicket);
    const signature = req.header('x-signature');
    if (signature !== undefined && this.secret) {
      const nonce = req.header('x-nonce');
      const timestamp = req.header('x-timestamp');
      const early = precheckSignedHeaders({ timestamp, nonce, signature }, this.now());
      if (early) throw new AuthFailure('signature', early);
      const res = verifySignature({
        secret: this.secret,
        timestamp,
        nonce,
        signature,
        method: req.method,
        pathWithQuery: req.pathWithQuery,
        rawBody: await req.rawBody(),
        nowMs: this.now(), // after the body: the whole request arrives within the window
      });
      if (!res.ok) throw new AuthFailure('signature', res.reason);
      // Only requests with a valid signature reach the nonce record, so guessers cannot flood it.
      if (!(await this.acceptNonce(nonce as string))) throw new AuthFailure('signature', 'replayed_nonce');
      return SIGNED_CREDENTIAL;
    }
    if (bearer !== undefined) throw new AuthFailure('bearer', 'invalid_bearer');
    throw new AuthFailure('none', 'missing_credentials');
  }

  /**
   * A ticket is good once: valid MAC, not expired, issued to a credential that is still configured,
   * and not redeemed before (its id goes into the nonce table, like a signed request's nonce).
   */
  private async redeemTicket(ticket: string): Promise<string> {
    const t = this.tickets.verify(ticket);
    if (!t.ok) throw new AuthFailure('ticket', 'invalid_ticket');
    const known =
      this.keys.some((k) => k.id === t.credential) ||
      (t.credential === SIGNED_CREDENTIAL && Boolean(this.secret));
    if (!known) throw new AuthFailure('ticket', 'invalid_ticket');
    if (!(await this.acceptNonce(ticketNonce(t.id)))) throw new AuthFailure('ticket', 'invalid_ticket');
    return t.credential;
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

export function setCredential(c: Context, credential: string): void {
  c.set('credential' as never, credential as never);
}

/** The credential id `apiGuard` admitted the request with (undefined on routes without auth). */
export function getCredential(c: Context): string | undefined {
  const v: unknown = c.get('credential' as never);
  return typeof v === 'string' ? v : undefined;
}

/** Who made this HTTP request, for the services' audit records. */
export function httpActor(c: Context): Actor {
  const traceParent = requestTraceparent(c);
  const reqId = requestId(c);
  return {
    id: getCredential(c) ?? ANONYMOUS,
    via: 'http',
    ...(traceParent ? { traceParent } : {}),
    ...(reqId ? { requestId: reqId } : {}),
  };
}

/**
 * Hono middleware for /api/* (and /metrics when METRICS_AUTH=true). A signed request's body is
 * read here (at most `maxBodyBytes`) once its headers pass the cheap checks.
 */
export function apiGuard(guard: AccessGuard, maxBodyBytes: number): MiddlewareHandler {
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
      ip: guard.addressOf(incoming),
      transport: 'http',
      header: (n) => c.req.header(n),
      rawBody: () => readBody(c, maxBodyBytes),
    });
    setCredential(c, credential);
    await next();
  };
}

/** Admission for the /ws upgrade (connection cap per credential) and for its work frames. */
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
        ip: guard.addressOf(req),
        transport: 'ws',
        header,
        rawBody: async () => '',
        queryToken: url.searchParams.get('token') ?? undefined,
        wsTicket: ticketFromProtocols(header('sec-websocket-protocol')),
      });
      guard.acquireWs(credential);
      return credential;
    },
    release: (credential: string) => guard.releaseWs(credential),
    take: (credential: string) => guard.take(credential),
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
    description:
      'A key from API_KEYS: `Authorization: Bearer <key>`. For /ws also `?token=<key>`, or a ticket from ' +
      'POST /api/ws-ticket offered as the subprotocol `duyetbot.ticket.<ticket>` (beside `duyetbot.v1`).',
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
