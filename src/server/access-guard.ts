// Admission of requests and WebSocket frames (docs/api.md §3, §4): authentication, rate limits,
// throttling of failed attempts, WebSocket connection caps, and the audit of failures.
//
// Credentials are checked FIRST and only failures are throttled per client address: a request
// with valid credentials is never refused because of what others behind the same address (an
// office NAT, a proxy) did — it is only subject to its own credential's rate limit. A failed
// attempt takes a token from its address's failure bucket (AUTH_FAILURES_PER_MINUTE) and from the
// address's request bucket (RATE_LIMIT_IP_PER_MINUTE); once either is empty, further failures get
// 429 instead of 401. Those are not audited one by one (a flood would fill the log): they are
// counted per address and written as one `auth.throttled` record per address and minute.
import type { IncomingMessage } from 'node:http';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { AuditLog } from '../observability/audit.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { ANONYMOUS, Authenticator, AuthFailure, type AuthRequest, type NonceChecker } from './auth.ts';
import { type ClientAddress, clientAddress } from './client-address.ts';
import { RateLimiter, type TakeResult } from './rate-limit.ts';

export interface AdmitRequest extends AuthRequest {
  /** Client address (see addressOf). */
  ip: string;
  /** Path without the query (the query may carry a token); used in audit records. */
  path: string;
  transport: 'http' | 'ws';
}

/** How often the counts of throttled failures are written to the audit log. */
const THROTTLE_SUMMARY_MS = 60_000;
/** Addresses whose throttled failures are counted separately; beyond, they are counted together. */
const MAX_THROTTLED_ADDRESSES = 10_000;

const rateLimited = (message: string, retryAfterS: number) =>
  new AppError('rate_limited', message, { retryAfterS });

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
  private now: () => number;
  private resolveAddress: ClientAddress;
  /** Failures answered with 429 since the last summary, per address. */
  private throttled = new Map<string, { count: number; since: number }>();
  private summaryTimer: NodeJS.Timeout;

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
      | 'trustProxy'
    >;
    audit?: AuditLog;
    logger?: Logger;
    /** `agent_auth_failures_total{reason}`: the 401 reasons, and `rate_limited` for 429s. */
    metrics?: Pick<Metrics, 'authFailures'>;
    /** Replay check of signed requests (see storeNonceChecker); default an in-process cache. */
    acceptNonce?: NonceChecker;
    /** The clock of the rate limits and the signature window (tests move it instead of sleeping). */
    now?: () => number;
  }) {
    const c = opts.config;
    this.authenticator = new Authenticator(c, opts.acceptNonce, opts.now);
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
    this.now = opts.now ?? Date.now;
    this.resolveAddress = clientAddress(c.trustProxy);
    this.summaryTimer = setInterval(() => this.flushThrottled(), THROTTLE_SUMMARY_MS);
    this.summaryTimer.unref();
  }

  get enabled(): boolean {
    return this.authenticator.enabled;
  }

  /** The client address of a request: the socket peer, or X-Forwarded-For behind TRUST_PROXY. */
  addressOf(incoming: IncomingMessage | undefined): string {
    return this.resolveAddress(incoming?.socket?.remoteAddress, incoming?.headers['x-forwarded-for']);
  }

  /** Returns the credential id, or throws 401 `unauthorized` / 429 `rate_limited`. */
  async admit(req: AdmitRequest): Promise<string> {
    if (!this.enabled) return ANONYMOUS;
    let credential: string;
    try {
      credential = await this.authenticator.authenticate(req);
    } catch (err) {
      if (err instanceof AuthFailure) throw this.failed(req, err);
      throw err;
    }
    const cred = this.perCredential.take(credential, this.now());
    if (!cred.ok) throw this.limited('rate limit exceeded for this credential', cred.retryAfterS);
    return credential;
  }

  /**
   * A token from the credential's bucket for a unit of work that did not come as an HTTP request
   * (a WebSocket `message`, `subscribe` or `interrupt` frame). Unlimited when auth is off.
   */
  take(credential: string): TakeResult {
    if (!this.enabled) return { ok: true, remaining: Number.POSITIVE_INFINITY };
    const res = this.perCredential.take(credential, this.now());
    if (!res.ok) this.metrics?.authFailures.inc({ reason: 'rate_limited' });
    return res;
  }

  /** Counts a failed attempt against its address: the 401 to send, or a 429 once over the limits. */
  private failed(req: AdmitRequest, err: AuthFailure): AppError {
    const now = this.now();
    const fail = this.failures.take(req.ip, now);
    const ip = fail.ok ? this.perIp.take(req.ip, now) : fail;
    if (!ip.ok) {
      this.countThrottled(req.ip, now);
      return this.limited(
        fail.ok
          ? 'too many requests from this address'
          : 'too many failed authentication attempts from this address; retry later',
        ip.retryAfterS,
      );
    }
    this.recordFailure(req, err);
    return err;
  }

  private limited(message: string, retryAfterS: number): AppError {
    this.metrics?.authFailures.inc({ reason: 'rate_limited' });
    return rateLimited(message, retryAfterS);
  }

  private countThrottled(ip: string, now: number): void {
    const key = this.throttled.has(ip) || this.throttled.size < MAX_THROTTLED_ADDRESSES ? ip : '*';
    const entry = this.throttled.get(key);
    if (entry) entry.count += 1;
    else this.throttled.set(key, { count: 1, since: now });
  }

  /** Writes one `auth.throttled` record per address with the failures refused since the last one. */
  flushThrottled(): void {
    if (this.throttled.size === 0) return;
    const until = new Date(this.now()).toISOString();
    for (const [ip, { count, since }] of this.throttled) {
      const details = { count, since: new Date(since).toISOString(), until };
      this.logger?.warn('failed authentication attempts throttled', { ip, ...details });
      void this.audit?.record({
        actor: ip === '*' ? 'ip:*' : `ip:${ip}`,
        action: 'auth.throttled',
        outcome: 'denied',
        details,
      });
    }
    this.throttled.clear();
  }

  /** Stops the summary timer after writing what is pending. */
  close(): void {
    clearInterval(this.summaryTimer);
    this.flushThrottled();
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
