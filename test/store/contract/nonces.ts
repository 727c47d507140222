// Store contract: replay-protection nonces (acceptNonce / pruneNonces).
import { describe, expect, it } from 'vitest';
import { InvalidQueryError } from '../../../src/store/errors.ts';
import { NONCE_PRUNE_EVERY } from '../../../src/store/shared/nonces.ts';
import { ManualClock } from '../../helpers/clock.ts';
import type { Ctx } from './ctx.ts';

const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

export function noncesContract(ctx: Ctx): void {
  describe('nonces', () => {
    it('accepts a new nonce once; the same again is refused until it expires', async () => {
      const store = ctx.store;
      expect(await store.acceptNonce('nonce-aaaa', inMs(600_000))).toBe(true);
      expect(await store.acceptNonce('nonce-aaaa', inMs(600_000))).toBe(false);
      expect(await store.acceptNonce('nonce-aaaa', inMs(1_200_000))).toBe(false);
      expect(await store.acceptNonce('nonce-bbbb', inMs(600_000))).toBe(true);
      // nonces are compared exactly (case matters)
      expect(await store.acceptNonce('NONCE-AAAA', inMs(600_000))).toBe(true);
      await expect(store.acceptNonce('nonce-cccc', 'not a date')).rejects.toBeInstanceOf(InvalidQueryError);
    });

    it('accepts a nonce again after its record expired, then refuses it for the new period', async () => {
      const store = ctx.store;
      expect(await store.acceptNonce('nonce-old', inMs(-1_000))).toBe(true);
      expect(await store.acceptNonce('nonce-old', inMs(600_000))).toBe(true);
      expect(await store.acceptNonce('nonce-old', inMs(600_000))).toBe(false);
    });

    it("a record is refused until the moment it expires (by the store's clock), accepted from then on", async () => {
      const clock = new ManualClock();
      const store = await ctx.open({ now: clock.now });
      const at = (ms: number) => new Date(clock.now() + ms).toISOString();
      expect(await store.acceptNonce('nonce-soon', at(1_000))).toBe(true);
      expect(await store.acceptNonce('nonce-soon', at(600_000))).toBe(false);
      await clock.advance(999);
      expect(await store.acceptNonce('nonce-soon', at(600_000))).toBe(false);
      await clock.advance(1); // expires_at <= now: expired
      expect(await store.acceptNonce('nonce-soon', at(600_000))).toBe(true);
      expect(await store.acceptNonce('nonce-soon', at(600_000))).toBe(false);
    });

    it('of 20 concurrent identical accepts exactly one succeeds (also across store instances)', async () => {
      const store = ctx.store;
      const same = await Promise.all(
        Array.from({ length: 20 }, () => store.acceptNonce('nonce-race', inMs(600_000))),
      );
      expect(same.filter(Boolean)).toHaveLength(1);
      const other = await ctx.open();
      const stores = [store, other];
      const across = await Promise.all(
        Array.from({ length: 20 }, (_, i) => stores[i % 2]!.acceptNonce('nonce-race-2', inMs(600_000))),
      );
      expect(across.filter(Boolean)).toHaveLength(1);
      expect(await other.acceptNonce('nonce-race', inMs(600_000))).toBe(false);
      // an expired record raced for: again exactly one renews it
      await store.acceptNonce('nonce-race-3', inMs(-1_000));
      const renew = await Promise.all(
        Array.from({ length: 20 }, (_, i) => stores[i % 2]!.acceptNonce('nonce-race-3', inMs(600_000))),
      );
      expect(renew.filter(Boolean)).toHaveLength(1);
    });

    it('prunes expired records explicitly and every NONCE_PRUNE_EVERY accepts', async () => {
      const store = ctx.store;
      for (let i = 0; i < 5; i++) expect(await store.acceptNonce(`expired-${i}`, inMs(-1_000))).toBe(true);
      for (let i = 0; i < 3; i++) expect(await store.acceptNonce(`live-${i}`, inMs(600_000))).toBe(true);
      expect(await store.pruneNonces(new Date().toISOString())).toBe(5);
      expect(await store.pruneNonces(new Date().toISOString())).toBe(0);
      for (let i = 0; i < 3; i++) expect(await store.acceptNonce(`live-${i}`, inMs(600_000))).toBe(false);
      // pruning keeps unexpired records: pruning "in the future" would remove the live ones too
      expect(await store.pruneNonces(inMs(1_200_000))).toBe(3);

      // a fresh store instance counts its own accepts: its NONCE_PRUNE_EVERY-th removes the expired
      const fresh = await ctx.open();
      for (let i = 0; i < NONCE_PRUNE_EVERY - 1; i++) await fresh.acceptNonce(`auto-${i}`, inMs(-1_000));
      await fresh.acceptNonce('auto-last', inMs(600_000));
      expect(await fresh.pruneNonces(new Date().toISOString())).toBe(0);
      expect(await fresh.acceptNonce('auto-last', inMs(600_000))).toBe(false);
    });
  });
}
