// Remembers accepted nonces for the signature window so a captured request cannot be replayed.
// In-process, so for the single SQLite instance only; with PostgreSQL the instances share the
// store's `nonces` table instead (Store.acceptNonce, see server/auth.ts). Bounded: entries expire,
// and a hard cap protects memory under a flood (only requests with a valid signature reach the cache).
export class NonceCache {
  private seen = new Map<string, number>();
  private ttlMs: number;
  private max: number;
  constructor(ttlMs: number, max = 1_000_000) {
    this.ttlMs = ttlMs;
    this.max = max;
  }
  /** Records the nonce; false when it was already accepted within the window (or the cache is full). */
  accept(nonce: string, now = Date.now()): boolean {
    this.evict(now);
    const exp = this.seen.get(nonce);
    if (exp !== undefined && exp > now) return false;
    if (this.seen.size >= this.max) return false; // fail closed rather than forget nonces
    this.seen.set(nonce, now + this.ttlMs);
    return true;
  }
  get size(): number {
    return this.seen.size;
  }
  private evict(now: number): void {
    // Map iterates in insertion order, which is expiry order (constant TTL).
    for (const [k, exp] of this.seen) {
      if (exp > now) break;
      this.seen.delete(k);
    }
  }
}
