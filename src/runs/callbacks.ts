// Delivers queued workflow callbacks (the transactional outbox): signed POSTs retried with
// exponential backoff and jitter until a 2xx or until `callbackMaxAgeMs` has passed. State lives in
// the store, so deliveries survive restarts; one result row per workflow means one delivery. Event
// notifications (docs/api.md §10) are rows too: the store hands out one row per workflow at a time,
// oldest first, so a workflow's notifications arrive in seq order and before its result.
// Each POST goes through safePost: a destination that resolves to a loopback/private/link-local/
// metadata address (not in CALLBACK_ALLOW_HOSTS) is refused and the callback fails at once; no
// redirect is followed; `lastError` holds only safePost's coarse error (never what answered).
// Time (due, backoff, give-up age, signature timestamp, poll) comes from `options.clock`.
import { type Clock, systemClock, type Timer } from '../clock.ts';
import type { Config } from '../config.ts';
import { type HostLookup, safePost } from '../net/safe-post.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { noopTracing, type Tracing } from '../observability/tracing.ts';
import { callbackSignedHeaders } from '../security/signing.ts';
import type { OutboxRecord, Store } from '../store/types.ts';
import type { Lifecycle } from './lifecycle.ts';

export interface CallbackOptions {
  baseDelayMs: number;
  maxDelayMs: number;
  /** Deadline of one attempt: resolution, connect, TLS and the response headers. */
  requestTimeoutMs: number;
  pollMs: number;
  /** Host resolution (tests inject one that maps names to loopback); default dns.lookup. */
  lookup?: HostLookup;
  /** Default the system clock; tests move a manual one. */
  clock?: Clock;
  /** The backoff's jitter source, in [0, 1); default Math.random. */
  random?: () => number;
}

/** Delay before attempt n+1 after n failures: base·2^(n-1), capped, with ±50% jitter. */
export function backoffMs(
  failures: number,
  o: Pick<CallbackOptions, 'baseDelayMs' | 'maxDelayMs'>,
  random = Math.random,
): number {
  const exp = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exp * (0.5 + random()));
}

/** Deliveries at once per instance. */
const MAX_IN_FLIGHT = 32;

export class CallbackDispatcher {
  private store: Store;
  private config: Config;
  private logger: Logger;
  private metrics: Metrics;
  private lifecycle?: Lifecycle;
  private tracing: Tracing;
  private opts: CallbackOptions;
  private clock: Clock;
  private timer?: Timer;
  private running = false;
  private again = false;
  private stopped = false;
  /** Outbox ids being delivered (added synchronously, so a tick never starts one twice). */
  private inflight = new Set<string>();
  private deliveries = new Set<Promise<void>>();

  constructor(o: {
    store: Store;
    config: Config;
    logger: Logger;
    metrics: Metrics;
    /** Told each attempt's stored outcome (`callback.attempted`). */
    lifecycle?: Lifecycle;
    /** A span per delivery attempt, whose traceparent the POST carries. */
    tracing?: Tracing;
    options?: Partial<CallbackOptions>;
  }) {
    this.lifecycle = o.lifecycle;
    this.store = o.store;
    this.config = o.config;
    this.logger = o.logger.child({ component: 'callbacks' });
    this.metrics = o.metrics;
    this.tracing = o.tracing ?? noopTracing;
    this.opts = {
      baseDelayMs: 1_000,
      maxDelayMs: 3_600_000,
      requestTimeoutMs: 10_000,
      pollMs: 1_000,
      ...o.options,
    };
    this.clock = this.opts.clock ?? systemClock;
  }

  start(): void {
    this.timer = this.clock.setInterval(() => this.kick(), this.opts.pollMs, { unref: true });
    this.kick();
  }

  /** Stops polling; resolves when the deliveries in flight have ended (each is bounded by its timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await Promise.all([...this.deliveries]);
  }

  /** Looks for due deliveries now. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.tick()
      .catch((err) => this.logger.error('callback tick failed', { err }))
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * Starts the due deliveries without waiting for them: a slow receiver (up to the request
   * timeout) holds one of MAX_IN_FLIGHT slots, not the others' turn. Each one that ends looks
   * for more.
   */
  private async tick(): Promise<void> {
    const room = MAX_IN_FLIGHT - this.inflight.size;
    if (room <= 0) return;
    const due = await this.store.dueOutbox(
      new Date(this.clock.now()).toISOString(),
      room + this.inflight.size,
    );
    for (const o of due.filter((x) => !this.inflight.has(x.id)).slice(0, room)) {
      const p = this.deliver(o)
        .catch((err) => this.logger.error('callback delivery failed', { workflowId: o.workflowId, err }))
        .finally(() => {
          this.deliveries.delete(p);
          this.kick();
        });
      this.deliveries.add(p);
    }
  }

  private async deliver(o: OutboxRecord): Promise<void> {
    this.inflight.add(o.id);
    const attempts = o.attempts + 1;
    // The POST carries the trace of the request that started the workflow (a delivery span in it
    // when tracing is on; that request's traceparent as it was when it is off).
    const span = this.tracing.startSpan('POST callback', {
      kind: 'client',
      ...(o.traceParent ? { parent: o.traceParent } : {}),
      ...(this.tracing.enabled
        ? {
            attributes: {
              'http.request.method': 'POST',
              'server.address': hostOf(o.url),
              'duyetbot.workflow.id': o.workflowId,
              'duyetbot.delivery.attempt': attempts,
            },
          }
        : {}),
    });
    const log = span.traceId ? this.logger.child({ traceId: span.traceId }) : this.logger;
    try {
      if (this.store.shared) {
        // Several instances poll the same outbox: push the row out of the others' "due" window for
        // the time of this attempt (a lease), so it is not sent by two instances at once. The
        // outcome below overwrites it. (Not a strict claim: two polls within milliseconds may race.)
        const lease = new Date(this.clock.now() + this.opts.requestTimeoutMs + 5_000).toISOString();
        await this.store.updateOutbox(o.id, { nextAttemptAt: lease });
      }
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        'User-Agent': 'duyetbot-agent-server',
      };
      // Receivers dedupe on X-Delivery-Id: a crash between their 2xx and our record of it means one redelivery.
      headers['X-Delivery-Id'] = o.id;
      headers['X-Delivery-Attempt'] = String(attempts);
      // `result`: the terminal Workflow; `event`: {kind: "event", workflowId, event} (docs/api.md §10).
      headers['X-Callback-Kind'] = o.kind ?? 'result';
      if (span.traceparent) headers.traceparent = span.traceparent;
      if (this.config.signingSecret)
        Object.assign(
          headers,
          callbackSignedHeaders(this.config.signingSecret, o.url, o.body, this.clock.now()),
        );
      const res = await safePost({
        url: o.url,
        body: o.body,
        headers,
        allow: this.config.callbackAllowHosts,
        timeoutMs: this.opts.requestTimeoutMs,
        ...(this.opts.lookup ? { lookup: this.opts.lookup } : {}),
      });
      const now = this.clock.now();
      if (res.ok) {
        await this.store.updateOutbox(o.id, {
          status: 'delivered',
          attempts,
          deliveredAt: new Date(now).toISOString(),
          lastError: undefined,
        });
        this.metrics.callbacks.inc({ outcome: 'delivered' });
        void this.lifecycle?.emit('callback.attempted', {
          workflowId: o.workflowId,
          ok: true,
          gaveUp: false,
        });
        span.setAttributes({ 'http.response.status_code': res.status });
        log.info('callback delivered', {
          workflowId: o.workflowId,
          deliveryId: o.id,
          attempts,
          status: res.status,
        });
        return;
      }
      // A refused destination (or a URL that cannot be sent to) fails at once: retrying cannot help.
      const expired = res.permanent || now - Date.parse(o.createdAt) > this.config.callbackMaxAgeMs;
      const delay = backoffMs(attempts, this.opts, this.opts.random);
      await this.store.updateOutbox(o.id, {
        status: expired ? 'failed' : 'pending',
        attempts,
        lastError: res.error, // coarse by construction: no address, errno text or response body
        nextAttemptAt: new Date(now + delay).toISOString(),
      });
      // Retry on time even when the delay is shorter than the poll interval.
      if (!expired && !this.stopped && delay < this.opts.pollMs)
        this.clock.setTimeout(() => this.kick(), delay + 5, { unref: true });
      this.metrics.callbacks.inc({ outcome: res.permanent ? 'refused' : expired ? 'gave_up' : 'retry' });
      void this.lifecycle?.emit('callback.attempted', {
        workflowId: o.workflowId,
        ok: false,
        gaveUp: expired,
      });
      span.setError(res.error);
      // The detail (which may name an internal address) goes to the operator's log only.
      log.warn('callback delivery failed', {
        workflowId: o.workflowId,
        deliveryId: o.id,
        attempts,
        error: res.error,
        ...(res.detail ? { detail: res.detail } : {}),
        gaveUp: expired,
      });
    } finally {
      span.end();
      this.inflight.delete(o.id);
    }
  }
}

/** The callback URL's host (never its path or query, which may hold a token) for the span. */
function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}
