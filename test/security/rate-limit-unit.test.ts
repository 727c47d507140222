// Token buckets: burst, sustained rate, Retry-After, bounded memory.
import { describe, expect, it } from 'vitest';
import { RateLimiter, TokenBucket } from '../../src/server/rate-limit.ts';

describe('TokenBucket', () => {
  it('allows a burst, then refuses with a Retry-After, then refills at the sustained rate', () => {
    const b = new TokenBucket({ perMinute: 60, burst: 3 }, 0);
    expect(b.take(0).ok).toBe(true);
    expect(b.take(0).ok).toBe(true);
    expect(b.take(0)).toEqual({ ok: true, remaining: 0 });
    const refused = b.take(0);
    expect(refused).toEqual({ ok: false, retryAfterS: 1 });
    expect(b.take(500).ok).toBe(false); // half a token
    expect(b.take(1_000).ok).toBe(true); // one token per second
    expect(b.take(1_000).ok).toBe(false);
    expect(b.isFull(10_000)).toBe(true); // never more than the burst
    expect(b.take(10_000)).toEqual({ ok: true, remaining: 2 });
  });

  it('computes Retry-After for slow rates, rounded up to whole seconds', () => {
    const b = new TokenBucket({ perMinute: 2, burst: 1 }, 0);
    expect(b.take(0).ok).toBe(true);
    expect(b.take(0)).toEqual({ ok: false, retryAfterS: 30 });
    expect(b.take(29_000)).toEqual({ ok: false, retryAfterS: 1 });
    expect(b.take(30_000).ok).toBe(true);
  });

  it('check() does not consume', () => {
    const b = new TokenBucket({ perMinute: 60, burst: 1 }, 0);
    expect(b.check(0).ok).toBe(true);
    expect(b.check(0).ok).toBe(true);
    expect(b.take(0).ok).toBe(true);
    expect(b.check(0).ok).toBe(false);
  });

  it('tolerates a clock that goes backwards', () => {
    const b = new TokenBucket({ perMinute: 60, burst: 1 }, 10_000);
    expect(b.take(10_000).ok).toBe(true);
    expect(b.take(5_000).ok).toBe(false);
    expect(b.take(11_000).ok).toBe(true);
  });
});

describe('RateLimiter', () => {
  it('keeps one bucket per key', () => {
    const l = new RateLimiter({ perMinute: 60, burst: 1 });
    expect(l.take('a', 0).ok).toBe(true);
    expect(l.take('a', 0).ok).toBe(false);
    expect(l.take('b', 0).ok).toBe(true);
    expect(l.check('c', 0).ok).toBe(true);
    expect(l.size).toBe(2);
  });

  it('bounds memory: full buckets are dropped, and the oldest go when all are active', () => {
    const l = new RateLimiter({ perMinute: 60, burst: 2 }, 100);
    for (let i = 0; i < 100; i++) l.take(`k${i}`, 0);
    expect(l.size).toBe(100);
    // A minute later every bucket is full again: adding a key sweeps them.
    l.take('new', 60_000);
    expect(l.size).toBe(1);
    for (let i = 0; i < 250; i++) l.take(`x${i}`, 60_000);
    expect(l.size).toBeLessThanOrEqual(100);
  });
});
