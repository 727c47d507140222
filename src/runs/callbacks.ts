// Delivers queued workflow callbacks (the transactional outbox): signed POSTs retried with
// exponential backoff and jitter until a 2xx or until `callbackMaxAgeMs` has passed. State lives in
// the store, so deliveries survive restarts; one outbox row per workflow means one delivery.
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { signedHeaders } from '../security/signing.ts';
import type { OutboxRecord, Store } from '../store/types.ts';

export interface CallbackOptions {
  baseDelayMs: number;
  maxDelayMs: number;
  requestTimeoutMs: number;
  pollMs: number;
}

/** Delay before attempt n+1 after n failures: base·2^(n-1), capped, with ±50% jitter. */
export function backoffMs(failures: number, o: Pick<CallbackOptions, 'baseDelayMs' | 'maxDelayMs'>, random = Math.random): number {
  const exp = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exp * (0.5 + random()));
}

export class CallbackDispatcher {
  private store: Store;
  private config: Config;
  private logger: Logger;
  private metrics: Metrics;
  private opts: CallbackOptions;
  private timer?: NodeJS.Timeout;
  private running = false;
  private again = false;
  private inflight = new Set<string>();

  constructor(o: { store: Store; config: Config; logger: Logger; metrics: Metrics; options?: Partial<CallbackOptions> }) {
    this.store = o.store;
    this.config = o.config;
    this.logger = o.logger.child({ component: 'callbacks' });
    this.metrics = o.metrics;
    this.opts = { baseDelayMs: 1_000, maxDelayMs: 3_600_000, requestTimeoutMs: 10_000, pollMs: 1_000, ...o.options };
  }

  start(): void {
    this.timer = setInterval(() => this.kick(), this.opts.pollMs);
    this.timer.unref();
    this.kick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Looks for due deliveries now. */
  kick(): void {
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

  private async tick(): Promise<void> {
    const due = await this.store.dueOutbox(new Date().toISOString(), 50);
    await Promise.all(due.filter((o) => !this.inflight.has(o.id)).map((o) => this.deliver(o)));
  }

  private async deliver(o: OutboxRecord): Promise<void> {
    this.inflight.add(o.id);
    const attempts = o.attempts + 1;
    try {
      const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'duyetbot-agent-server' };
      if (this.config.signingSecret) Object.assign(headers, signedHeaders(this.config.signingSecret, 'POST', o.url, o.body));
      let error: string | undefined;
      try {
        const res = await fetch(o.url, { method: 'POST', headers, body: o.body, redirect: 'manual', signal: AbortSignal.timeout(this.opts.requestTimeoutMs) });
        await res.body?.cancel().catch(() => {});
        if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
      } catch (err) {
        error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      }
      const now = Date.now();
      if (!error) {
        await this.store.updateOutbox(o.id, { status: 'delivered', attempts, deliveredAt: new Date(now).toISOString(), lastError: undefined });
        this.metrics.callbacks.inc({ outcome: 'delivered' });
        this.logger.info('callback delivered', { workflowId: o.workflowId, attempts });
        return;
      }
      const expired = now - Date.parse(o.createdAt) > this.config.callbackMaxAgeMs;
      await this.store.updateOutbox(o.id, {
        status: expired ? 'failed' : 'pending',
        attempts,
        lastError: error.slice(0, 500),
        nextAttemptAt: new Date(now + backoffMs(attempts, this.opts)).toISOString(),
      });
      this.metrics.callbacks.inc({ outcome: expired ? 'gave_up' : 'retry' });
      this.logger.warn('callback delivery failed', { workflowId: o.workflowId, attempts, error, gaveUp: expired });
    } finally {
      this.inflight.delete(o.id);
    }
  }
}
