// In-memory token buckets keyed by credential or client address (docs/api.md §4: 429 `rate_limited`
// with Retry-After). Per instance: with several instances each one limits on its own.

export interface BucketOptions {
  /** Sustained rate: tokens added per minute. */
  perMinute: number;
  /** Bucket size: how many requests may arrive at once after a quiet period. */
  burst: number;
}

export type TakeResult = { ok: true; remaining: number } | { ok: false; retryAfterS: number };

/** One token bucket. Time is passed in so the arithmetic is testable. */
export class TokenBucket {
  private tokens: number;
  private updated: number;
  private capacity: number;
  private perMs: number;
  constructor(opts: BucketOptions, now = Date.now()) {
    this.capacity = Math.max(1, opts.burst);
    this.perMs = Math.max(opts.perMinute, 1e-9) / 60_000;
    this.tokens = this.capacity;
    this.updated = now;
  }
  private refill(now: number): void {
    if (now > this.updated) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.updated) * this.perMs);
      this.updated = now;
    }
  }
  /** Takes one token, or says how long until one is available. */
  take(now = Date.now()): TakeResult {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true, remaining: Math.floor(this.tokens) };
    }
    return { ok: false, retryAfterS: this.waitS() };
  }
  /** Whether a token is available, without taking it. */
  check(now = Date.now()): TakeResult {
    this.refill(now);
    return this.tokens >= 1
      ? { ok: true, remaining: Math.floor(this.tokens) }
      : { ok: false, retryAfterS: this.waitS() };
  }
  /** True when the bucket is full again, i.e. indistinguishable from a new one. */
  isFull(now = Date.now()): boolean {
    this.refill(now);
    return this.tokens >= this.capacity;
  }
  private waitS(): number {
    return Math.max(1, Math.ceil((1 - this.tokens) / this.perMs / 1000));
  }
}

/** Buckets per key, with bounded memory: full buckets are dropped (a new one is identical). */
export class RateLimiter {
  private buckets = new Map<string, TokenBucket>();
  private opts: BucketOptions;
  private maxKeys: number;
  private ops = 0;
  constructor(opts: BucketOptions, maxKeys = 100_000) {
    this.opts = opts;
    this.maxKeys = maxKeys;
  }
  take(key: string, now = Date.now()): TakeResult {
    return this.bucket(key, now).take(now);
  }
  check(key: string, now = Date.now()): TakeResult {
    const b = this.buckets.get(key);
    return b ? b.check(now) : { ok: true, remaining: Math.max(1, this.opts.burst) };
  }
  get size(): number {
    return this.buckets.size;
  }
  private bucket(key: string, now: number): TokenBucket {
    let b = this.buckets.get(key);
    if (!b) {
      if (++this.ops % 1024 === 0 || this.buckets.size >= this.maxKeys) this.sweep(now);
      if (this.buckets.size >= this.maxKeys) {
        // Still full of active keys: forget the oldest rather than grow without bound.
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      b = new TokenBucket(this.opts, now);
      this.buckets.set(key, b);
    }
    return b;
  }
  private sweep(now: number): void {
    for (const [k, b] of this.buckets) if (b.isFull(now)) this.buckets.delete(k);
  }
}
