// Store contract: fair claiming across credentials (tenants), MAX_RUNS_PER_KEY, claims limited
// to some engines (memory admission) and the per-credential usage behind the daily cap.
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/types.ts';
import { ManualClock } from '../../helpers/clock.ts';
import { newRun, newSession } from '../fixtures/records.ts';
import { type Ctx, finish } from './ctx.ts';

/** One session per run, so that only the queue's order decides (not "one run per session"). */
async function queue(store: Store, cred: string | undefined, ids: string[], priority = 1): Promise<void> {
  for (const id of ids) {
    await store.createSession(newSession(`s_${id}`));
    await store.createRun(newRun(id, `s_${id}`, { priority, ...(cred ? { credential: cred } : {}) }));
  }
}

export function fairnessContract(ctx: Ctx): void {
  describe('fair queue', () => {
    /** A store whose clock moves 1 ms per claim, so times of claims and ends are never a tie. */
    async function ticking(): Promise<{
      store: Store;
      clock: ManualClock;
      claim: (opts?: object) => Promise<string | undefined>;
    }> {
      const clock = new ManualClock(Date.parse('2030-01-01T00:00:00.000Z'));
      const store = await ctx.open({ now: clock.now });
      return {
        store,
        clock,
        async claim(opts = {}) {
          await clock.advance(1);
          return (await store.claimNextRun('w', 60_000, opts))?.id;
        },
      };
    }

    it('takes credentials in turn within a priority: fewest running first, then the oldest queued run', async () => {
      const { store, claim } = await ticking();
      await queue(store, 'key:a', ['a0', 'a1', 'a2', 'a3', 'a4']);
      await queue(store, 'key:b', ['b0', 'b1']);
      await queue(store, 'key:c', ['c0']);
      const order: string[] = [];
      for (let id = await claim(); id; id = await claim()) order.push(id);
      expect(order).toEqual(['a0', 'b0', 'c0', 'a1', 'b1', 'a2', 'a3', 'a4']);
    });

    it("one key's backlog delays another key's single run by at most one run slot", async () => {
      const { store, claim } = await ticking();
      await queue(
        store,
        'key:a',
        Array.from({ length: 50 }, (_, i) => `a${i}`),
      );
      // two slots, both busy with A's runs when B arrives
      expect([await claim(), await claim()]).toEqual(['a0', 'a1']);
      await queue(store, 'key:b', ['b0']);
      await finish(store, 'a0', { status: 'completed' });
      expect(await claim()).toBe('b0'); // the first slot to turn over goes to B
      await finish(store, 'a1', { status: 'completed' });
      expect(await claim()).toBe('a2');

      // one slot: A's run ends, B (never served since) goes before A's next
      await queue(store, 'key:c', ['c0']);
      await finish(store, 'a2', { status: 'completed' });
      await finish(store, 'b0', { status: 'completed' });
      expect(await claim()).toBe('c0');
    });

    it('between credentials with as many running runs, the one whose last run ended longest ago goes first', async () => {
      const { store, clock, claim } = await ticking();
      await queue(store, 'key:a', ['a0']);
      await queue(store, 'key:b', ['b0']);
      expect([await claim(), await claim()]).toEqual(['a0', 'b0']);
      await finish(store, 'b0', { status: 'completed' });
      await clock.advance(1);
      await finish(store, 'a0', { status: 'completed' }); // A was served more recently
      await queue(store, 'key:a', ['a1']); // older than b1
      await queue(store, 'key:b', ['b1']);
      expect(await claim()).toBe('b1');
      expect(await claim()).toBe('a1');
    });

    it('priority still comes first; fairness applies within a priority', async () => {
      const { store, claim } = await ticking();
      await queue(store, 'key:a', ['a0', 'a1'], 2);
      await queue(store, 'key:b', ['b0'], 1);
      await queue(store, 'key:c', ['c0'], 2);
      expect([await claim(), await claim(), await claim(), await claim()]).toEqual(['a0', 'c0', 'a1', 'b0']);
    });

    it('FIFO within a credential, and a busy session does not block the credential', async () => {
      const { store, claim } = await ticking();
      await store.createSession(newSession('shared'));
      await store.createRun(newRun('x0', 'shared', { credential: 'key:a' }));
      await store.createRun(newRun('x1', 'shared', { credential: 'key:a' }));
      await queue(store, 'key:a', ['a2']);
      expect(await claim()).toBe('x0');
      expect(await claim()).toBe('a2'); // x1 waits for x0 (same session)
      expect(await claim()).toBeUndefined();
      await finish(store, 'x0', { status: 'completed' });
      expect(await claim()).toBe('x1');
    });

    it('maxRunsPerKey caps the running runs of one credential; others still run', async () => {
      const { store, claim } = await ticking();
      await queue(store, 'key:a', ['a0', 'a1', 'a2', 'a3']);
      await queue(store, 'key:b', ['b0']);
      const cap = { maxRunsPerKey: 2 };
      const got = [await claim(cap), await claim(cap), await claim(cap)];
      expect(got.sort()).toEqual(['a0', 'a1', 'b0']);
      expect(await claim(cap)).toBeUndefined(); // A is at its cap, B has nothing queued
      expect(await claim()).toBe('a2'); // without a cap A goes on
      await finish(store, 'a0', { status: 'completed' });
      await finish(store, 'a1', { status: 'completed' });
      expect(await claim(cap)).toBe('a3'); // a2 + a3 = 2 running
      expect(await claim(cap)).toBeUndefined();
    });

    it('runs without a recorded credential form one group of their own', async () => {
      const { store, claim } = await ticking();
      await queue(store, undefined, ['n0', 'n1']);
      await queue(store, 'key:a', ['a0']);
      const r = await store.getRun('n0');
      expect(r && 'credential' in r).toBe(false);
      expect(await claim()).toBe('n0');
      expect(await claim({ maxRunsPerKey: 1 })).toBe('a0'); // the group of n0 is at the cap
      expect(await claim({ maxRunsPerKey: 1 })).toBeUndefined();
      expect(await claim()).toBe('n1');
    });

    it('engines: only runs of sessions on those engines are claimed', async () => {
      const { store, claim } = await ticking();
      await store.createSession(newSession('cc', { engine: 'claude-code' }));
      await store.createRun(newRun('big', 'cc', { credential: 'key:a' }));
      await queue(store, 'key:a', ['small']);
      expect(await claim({ engines: ['native'] })).toBe('small');
      expect(await claim({ engines: ['native'] })).toBeUndefined();
      expect(await claim({ engines: ['native', 'claude-code'] })).toBe('big');
    });

    it('concurrent claimers (two store instances) never pass maxRunsPerKey', async () => {
      const store = ctx.store;
      const second = await ctx.open();
      for (const k of ['a', 'b', 'c']) {
        await queue(
          store,
          `key:${k}`,
          Array.from({ length: 10 }, (_, i) => `${k}${i}`),
        );
      }
      const cap = 3;
      const claims = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          (i % 2 ? store : second).claimNextRun(`w${i}`, 30_000, { maxRunsPerKey: cap }),
        ),
      );
      const got = claims.filter((c) => c !== undefined);
      expect(got).toHaveLength(9);
      expect(new Set(got.map((c) => c.id)).size).toBe(9);
      for (const k of ['a', 'b', 'c'])
        expect(got.filter((c) => c.credential === `key:${k}`)).toHaveLength(cap);
      expect(await store.countRuns('running')).toBe(9);
    });

    it('credentialUsageSince sums the usage of the runs that ended since a time', async () => {
      const clock = new ManualClock(Date.parse('2030-01-01T23:00:00.000Z'));
      const store = await ctx.open({ now: clock.now });
      await queue(store, 'key:a', ['a0', 'a1', 'a2']);
      await queue(store, 'key:b', ['b0']);
      const u = (n: number) => ({ inputTokens: n, outputTokens: n * 2, costUsd: n / 100 });
      for (let i = 0; i < 4; i++) await store.claimNextRun('w', 60_000);
      await finish(store, 'a0', { status: 'completed', usage: u(1) });
      await clock.advance(3600_000); // past midnight
      await finish(store, 'a1', {
        status: 'failed',
        error: { code: 'internal', message: 'x' },
        usage: u(10),
      });
      await finish(store, 'b0', { status: 'completed', usage: u(100) });
      const midnight = '2030-01-02T00:00:00.000Z';
      expect(await store.credentialUsageSince('key:a', midnight)).toEqual(u(10));
      expect(await store.credentialUsageSince('key:a', '2030-01-01T00:00:00.000Z')).toEqual({
        inputTokens: 11,
        outputTokens: 22,
        costUsd: 0.11,
      });
      expect(await store.credentialUsageSince('key:b', midnight)).toEqual(u(100));
      expect(await store.credentialUsageSince('key:none', midnight)).toEqual(u(0));
    });
  });
}
