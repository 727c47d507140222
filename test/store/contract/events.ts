// Store contract: events.
import { describe, expect, it } from 'vitest';
import type { Event } from '../../../src/protocol/index.ts';
import { NotFoundError } from '../../../src/store/errors.ts';
import { newSession } from '../fixtures/records.ts';
import { type Ctx, ISO } from './ctx.ts';

const textOf = (e: Event): string | undefined => ('text' in e.data ? e.data.text : undefined);

export function eventsContract(ctx: Ctx): void {
  describe('events', () => {
    it('assigns gap-free per-session seqs from 1 and returns the stored events', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      await store.createSession(newSession('s2'));
      const a = await store.appendEvents('s1', [{ type: 'run.queued', runId: 'r1', data: { attempt: 1 } }]);
      expect(a).toEqual([
        {
          seq: 1,
          sessionId: 's1',
          runId: 'r1',
          type: 'run.queued',
          ts: expect.stringMatching(ISO),
          data: { attempt: 1 },
        },
      ]);
      const b = await store.appendEvents('s1', [
        { type: 'text.delta', runId: 'r1', data: { text: 'he' } },
        { type: 'text.delta', data: { text: 'llo' } },
        { type: 'message.assistant', runId: 'r1', data: { text: 'hello' } },
      ]);
      expect(b.map((e) => e.seq)).toEqual([2, 3, 4]);
      expect('runId' in b[1]!).toBe(false);
      const other = await store.appendEvents('s2', [{ type: 'run.queued', data: { attempt: 1 } }]);
      expect(other[0]!.seq).toBe(1);
      expect(await store.appendEvents('s1', [])).toEqual([]);
      const listed = await store.listEvents('s1', 0, 100);
      expect(listed).toEqual([...a, ...b]);
      expect((await store.getSession('s1'))!.lastSeq).toBe(4);
      expect((await store.getSession('s2'))!.lastSeq).toBe(1);
    });

    it('lists after a seq with a limit, ascending', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      for (let i = 0; i < 10; i++)
        await store.appendEvents('s1', [{ type: 'text.delta', data: { text: `${i}` } }]);
      expect((await store.listEvents('s1', 3, 4)).map((e) => e.seq)).toEqual([4, 5, 6, 7]);
      expect((await store.listEvents('s1', 8, 100)).map((e) => e.seq)).toEqual([9, 10]);
      expect(await store.listEvents('s1', 10, 100)).toEqual([]);
      expect(await store.listEvents('unknown', 0, 100)).toEqual([]);
    });

    it('throws NotFoundError for an unknown session', async () => {
      const store = ctx.store;
      await expect(
        store.appendEvents('nope', [{ type: 'run.queued', data: { attempt: 1 } }]),
      ).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.appendEvents('nope', [])).rejects.toBeInstanceOf(NotFoundError);
    });

    it('stays gap-free under concurrent appenders (two store instances)', async () => {
      const store = ctx.store;
      const second = await ctx.open();
      await store.createSession(newSession('s1'));
      const calls = Array.from({ length: 60 }, (_, i) => {
        const s = i % 2 === 0 ? store : second;
        const n = (i % 3) + 1;
        return s.appendEvents(
          's1',
          Array.from({ length: n }, (_, j) => ({ type: 'text.delta' as const, data: { text: `${i}:${j}` } })),
        );
      });
      const results = await Promise.all(calls);
      const total = results.reduce((acc, r) => acc + r.length, 0);
      const stored = await store.listEvents('s1', 0, 1000);
      expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      const bySeq = new Map(stored.map((e) => [e.seq, e]));
      for (const r of results) {
        for (let j = 0; j < r.length; j++) {
          expect(bySeq.get(r[j]!.seq)!.data).toEqual(r[j]!.data);
          if (j > 0) expect(r[j]!.seq).toBe(r[j - 1]!.seq + 1); // a call's events are contiguous
        }
      }
      expect((await second.getSession('s1'))!.lastSeq).toBe(total);
    });

    it('appendEventBatches commits several sessions at once, atomically', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      await store.createSession(newSession('s2'));
      await store.appendEvents('s2', [{ type: 'run.queued', data: { attempt: 1 } }]);
      const res = await store.appendEventBatches([
        {
          sessionId: 's1',
          events: [
            { type: 'text.delta', data: { text: 'a' } },
            { type: 'text.delta', runId: 'r', data: { text: 'b' } },
          ],
        },
        { sessionId: 's2', events: [{ type: 'text.delta', data: { text: 'c' } }] },
        { sessionId: 's1', events: [{ type: 'text.delta', data: { text: 'd' } }] },
        { sessionId: 's2', events: [] },
      ]);
      expect(res.map((r) => r.map((e) => [e.sessionId, e.seq, textOf(e)]))).toEqual([
        [
          ['s1', 1, 'a'],
          ['s1', 2, 'b'],
        ],
        [['s2', 2, 'c']],
        [['s1', 3, 'd']],
        [],
      ]);
      expect(res[0]![1]!.runId).toBe('r');
      expect((await store.listEvents('s1', 0, 10)).map(textOf)).toEqual(['a', 'b', 'd']);
      await expect(
        store.appendEventBatches([
          { sessionId: 's1', events: [{ type: 'text.delta', data: { text: 'lost' } }] },
          { sessionId: 'nope', events: [{ type: 'text.delta', data: { text: '' } }] },
        ]),
      ).rejects.toBeInstanceOf(NotFoundError);
      expect((await store.listEvents('s1', 0, 10)).map((e) => e.seq)).toEqual([1, 2, 3]);
      expect((await store.getSession('s1'))!.lastSeq).toBe(3);
      expect(await store.appendEventBatches([])).toEqual([]);
    });

    it('concurrent batches over overlapping sessions neither deadlock nor leave gaps', async () => {
      const store = ctx.store;
      const second = await ctx.open();
      const ids = ['a', 'b', 'c', 'd', 'e'];
      for (const id of ids) await store.createSession(newSession(id));
      const calls = Array.from({ length: 30 }, (_, i) => {
        const order = i % 2 ? [...ids] : [...ids].reverse();
        return (i % 2 ? store : second).appendEventBatches(
          order.map((sessionId) => ({
            sessionId,
            events: [{ type: 'text.delta' as const, data: { text: String(i) } }],
          })),
        );
      });
      await Promise.all(calls);
      for (const id of ids) {
        expect((await store.listEvents(id, 0, 100)).map((e) => e.seq)).toEqual(
          Array.from({ length: 30 }, (_, k) => k + 1),
        );
      }
    });

    it('stores event data with NUL and lone surrogates', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      const [e] = await store.appendEvents('s1', [
        { type: 'tool.output', data: { toolUseId: 't', stream: 'stdout', chunk: 'x\u0000y\udc00z' } },
      ]);
      if (e?.type !== 'tool.output') throw new Error(`stored as ${e?.type}`);
      expect(e.data.chunk).toBe('x\uFFFDy\uFFFDz');
      expect((await store.listEvents('s1', 0, 1))[0]!.data).toEqual(e!.data);
    });
  });
}
