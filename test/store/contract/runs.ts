// Store contract: runs and the queue.
import { describe, expect, it } from 'vitest';
import { emptyUsage } from '../../../src/protocol/index.ts';
import { ConflictError, NotFoundError } from '../../../src/store/errors.ts';
import { ManualClock } from '../../helpers/clock.ts';
import { sleep } from '../../helpers/sleep.ts';
import { newRun, newSession } from '../fixtures/records.ts';
import { type Ctx, finish, ISO } from './ctx.ts';

export function runsContract(ctx: Ctx): void {
  describe('runs', () => {
    it('creates queued runs and finds them by idempotency key', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      await store.createSession(newSession('s2'));
      const r = await store.createRun(
        newRun('r1', 's1', { idempotencyKey: 'k1', priority: 2, deadlineAt: '2030-01-01T00:00:00Z' }),
      );
      expect(r).toMatchObject({
        id: 'r1',
        sessionId: 's1',
        status: 'queued',
        input: 'input of r1',
        idempotencyKey: 'k1',
        priority: 2,
        attempts: 0,
        cancelRequested: false,
        deadlineAt: '2030-01-01T00:00:00.000Z',
        usage: emptyUsage(),
      });
      expect(r.createdAt).toMatch(ISO);
      expect('workerId' in r).toBe(false);
      expect(await store.getRun('r1')).toEqual(r);
      expect(await store.findRunByIdempotencyKey('s1', 'k1')).toEqual(r);
      expect(await store.findRunByIdempotencyKey('s2', 'k1')).toBeUndefined();
      await expect(store.createRun(newRun('r2', 's1', { idempotencyKey: 'k1' }))).rejects.toBeInstanceOf(
        ConflictError,
      );
      await store.createRun(newRun('r3', 's2', { idempotencyKey: 'k1' }));
      await expect(store.createRun(newRun('r4', 'nope'))).rejects.toBeInstanceOf(NotFoundError);
      await store.createRun(newRun('r5', 's1'));
      expect((await store.listRuns('s1')).map((x) => x.id)).toEqual(['r1', 'r5']);
      expect(await store.countRuns('queued')).toBe(3);
    });

    it('getRuns: the runs among the ids that exist, one query for many', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      const made = [];
      for (let i = 0; i < 30; i++) made.push(await store.createRun(newRun(`r${i}`, 's1')));
      const got = await store.getRuns(['r3', 'nope', 'r17', "r1' OR '1'='1", 'r3']);
      expect(got.map((r) => r.id).sort()).toEqual(['r17', 'r3']);
      expect(got.find((r) => r.id === 'r3')).toEqual(made[3]);
      expect(await store.getRuns([])).toEqual([]);
      expect((await store.getRuns(made.map((r) => r.id))).length).toBe(30);
    });

    it('keeps the traceparent of the request that queued a run, through the claim', async () => {
      const store = ctx.store;
      const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      await store.createSession(newSession('s1'));
      await store.createRun(newRun('r1', 's1', { traceParent: tp }));
      await store.createRun(newRun('r2', 's1'));
      expect((await store.getRun('r1'))?.traceParent).toBe(tp);
      expect('traceParent' in (await store.getRun('r2'))!).toBe(false);
      expect((await store.claimNextRun('w1', 30_000))?.traceParent).toBe(tp);
    });

    it('claims by priority, then FIFO, and sets the lease', async () => {
      const store = ctx.store;
      const order = [
        ['a', 1],
        ['b', 2],
        ['c', 1],
        ['d', 2],
        ['e', 0],
      ] as const;
      for (const [id, priority] of order) {
        await store.createSession(newSession(`s_${id}`));
        await store.createRun(newRun(id, `s_${id}`, { priority }));
      }
      expect(await store.countQueuedByPriority()).toEqual(
        new Map([
          [0, 1],
          [1, 2],
          [2, 2],
        ]),
      );
      const before = Date.now();
      const first = (await store.claimNextRun('w1', 30_000))!;
      expect(first).toMatchObject({ id: 'b', status: 'running', workerId: 'w1', attempts: 1 });
      expect(first.startedAt).toMatch(ISO);
      const lease = Date.parse(first.leaseExpiresAt!);
      expect(lease).toBeGreaterThanOrEqual(before + 30_000 - 5);
      expect(lease).toBeLessThanOrEqual(Date.now() + 30_000 + 5);
      const rest: string[] = [];
      for (;;) {
        const r = await store.claimNextRun('w1', 30_000);
        if (!r) break;
        rest.push(r.id);
      }
      expect(rest).toEqual(['d', 'a', 'c', 'e']);
      expect(await store.countRuns('running')).toBe(5);
      expect(await store.countRuns('queued')).toBe(0);
      expect(await store.countQueuedByPriority()).toEqual(new Map());
    });

    it('never runs two runs of one session at once', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      await store.createSession(newSession('s2'));
      await store.createRun(newRun('r1', 's1'));
      await store.createRun(newRun('r2', 's1', { priority: 5 }));
      await store.createRun(newRun('r3', 's2'));
      expect((await store.claimNextRun('w', 10_000))?.id).toBe('r2');
      expect((await store.claimNextRun('w', 10_000))?.id).toBe('r3');
      expect(await store.claimNextRun('w', 10_000)).toBeUndefined();
      await finish(store, 'r2', { status: 'completed', stopReason: 'end_turn' });
      expect((await store.claimNextRun('w', 10_000))?.id).toBe('r1');
    });

    it('re-queues on lease expiry and counts attempts; startedAt is kept', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      await store.createSession(newSession('s2'));
      await store.createRun(newRun('r1', 's1'));
      await store.createRun(newRun('r2', 's2'));
      const c1 = (await store.claimNextRun('w1', 1_000))!;
      const c2 = (await store.claimNextRun('w1', 60_000))!;
      expect([c1.id, c2.id]).toEqual(['r1', 'r2']);
      expect(await store.requeueExpiredRuns(new Date().toISOString())).toEqual([]);
      const expired = await store.requeueExpiredRuns(new Date(Date.now() + 5_000).toISOString());
      expect(expired.map((r) => r.id)).toEqual(['r1']);
      expect(expired[0]).toMatchObject({ status: 'queued', attempts: 1 });
      expect('workerId' in expired[0]!).toBe(false);
      expect('leaseExpiresAt' in expired[0]!).toBe(false);
      expect((await store.getRun('r2'))!.status).toBe('running');
      await sleep(3);
      const again = (await store.claimNextRun('w2', 1_000))!;
      expect(again).toMatchObject({ id: 'r1', workerId: 'w2', attempts: 2, startedAt: c1.startedAt });
    });

    it('renews only the given worker’s running leases', async () => {
      const store = ctx.store;
      for (const s of ['s1', 's2', 's3']) {
        await store.createSession(newSession(s));
        await store.createRun(newRun(`r_${s}`, s));
      }
      const a = (await store.claimNextRun('w1', 1_000))!;
      const b = (await store.claimNextRun('w2', 1_000))!;
      await store.renewLeases('w1', [a.id, b.id, 'r_s3'], 120_000);
      await store.renewLeases('w1', [], 120_000);
      const ra = (await store.getRun(a.id))!;
      const rb = (await store.getRun(b.id))!;
      expect(Date.parse(ra.leaseExpiresAt!)).toBeGreaterThan(Date.now() + 100_000);
      expect(rb.leaseExpiresAt).toBe(b.leaseExpiresAt);
      expect((await store.getRun('r_s3'))!.leaseExpiresAt).toBeUndefined();
    });

    it("leases, start and finish times are read from the store's clock", async () => {
      const clock = new ManualClock(Date.parse('2030-01-01T00:00:00.000Z'));
      const store = await ctx.open({ now: clock.now });
      await store.createSession(newSession('s1'));
      await store.createRun(newRun('r1', 's1'));
      const claimed = (await store.claimNextRun('w1', 10_000))!;
      expect(claimed).toMatchObject({
        startedAt: '2030-01-01T00:00:00.000Z',
        leaseExpiresAt: '2030-01-01T00:00:10.000Z',
      });
      await clock.advance(9_000);
      await store.renewLeases('w1', ['r1'], 10_000);
      expect((await store.getRun('r1'))!.leaseExpiresAt).toBe('2030-01-01T00:00:19.000Z');
      await clock.advance(1_000);
      await finish(store, 'r1', { status: 'completed', stopReason: 'end_turn' });
      expect((await store.getRun('r1'))!.completedAt).toBe('2030-01-01T00:00:10.000Z');
    });

    it('requeueRun puts a running run back in the queue and frees its session', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      await store.createRun(newRun('r1', 's1'));
      await store.createRun(newRun('r2', 's1'));
      await store.claimNextRun('w1', 10_000);
      await store.requeueRun('r1');
      expect(await store.getRun('r1')).toMatchObject({ status: 'queued', attempts: 1 });
      expect((await store.claimNextRun('w2', 10_000))?.id).toBe('r1'); // keeps its place in line
      await finish(store, 'r1', { status: 'completed' });
      await store.requeueRun('r1'); // terminal runs stay terminal
      expect((await store.getRun('r1'))!.status).toBe('completed');
    });

    it('finishRun records the outcome once; requestCancel and cancelQueuedRun', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      await store.createSession(newSession('s2'));
      await store.createRun(newRun('r1', 's1'));
      await store.createRun(newRun('r2', 's2'));
      await store.createRun(newRun('r3', 's2'));
      await store.claimNextRun('w', 10_000);
      await store.requestCancel('r1');
      expect((await store.getRun('r1'))!.cancelRequested).toBe(true);
      const usage = { inputTokens: 100, outputTokens: 20, costUsd: 0.01 };
      await finish(store, 'r1', {
        status: 'failed',
        error: { code: 'llm_error', message: 'it broke' },
        usage,
      });
      const r1 = (await store.getRun('r1'))!;
      expect(r1).toMatchObject({
        status: 'failed',
        error: { code: 'llm_error', message: 'it broke' },
        usage,
      });
      expect(r1.completedAt).toMatch(ISO);
      expect('leaseExpiresAt' in r1).toBe(false);
      await finish(store, 'r1', { status: 'completed', stopReason: 'late' });
      expect((await store.getRun('r1'))!.status).toBe('failed');
      await store.requestCancel('r1');

      expect(await store.cancelQueuedRun('r2')).toBe(true);
      expect(await store.cancelQueuedRun('r2')).toBe(false);
      expect(await store.getRun('r2')).toMatchObject({ status: 'cancelled', cancelRequested: true });
      expect((await store.claimNextRun('w', 10_000))?.id).toBe('r3');
      expect(await store.cancelQueuedRun('r3')).toBe(false); // running
      expect(await store.cancelQueuedRun('nope')).toBe(false);
      await finish(store, 'r3', { status: 'completed', stopReason: 'end_turn' });
      expect(await store.getRun('r3')).toMatchObject({
        status: 'completed',
        stopReason: 'end_turn',
        usage: emptyUsage(),
      });
      expect(await store.countRuns('completed')).toBe(1);
      expect(await store.countRuns('cancelled')).toBe(1);
      expect(await store.countRuns('failed')).toBe(1);
    });

    it('concurrent claimers (two store instances) never share a run or a session', async () => {
      const store = ctx.store;
      const second = await ctx.open();
      const sessions = 8;
      for (let s = 0; s < sessions; s++) {
        await store.createSession(newSession(`s${s}`));
        for (let r = 0; r < 3; r++)
          await store.createRun(newRun(`s${s}-r${r}`, `s${s}`, { priority: r % 2 }));
      }
      const seen = new Set<string>();
      for (let round = 0; round < 3; round++) {
        const claims = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? store : second).claimNextRun(`w${i}`, 30_000)),
        );
        const got = claims.filter((c) => c !== undefined);
        expect(got).toHaveLength(sessions); // one per session, every round
        const ids = got.map((c) => c.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(new Set(got.map((c) => c.sessionId)).size).toBe(sessions);
        for (const id of ids) {
          expect(seen.has(id)).toBe(false);
          seen.add(id);
        }
        await Promise.all(got.map((c) => finish(store, c.id, { status: 'completed' })));
      }
      expect(seen.size).toBe(sessions * 3);
      expect(await store.claimNextRun('w', 1_000)).toBeUndefined();
    });

    it('queueMessage: the run, the message, an idle session queued and the events, in one transaction', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      const message = (runId: string) => ({
        id: `${runId}-u`,
        sessionId: 's1',
        runId,
        role: 'user' as const,
        text: `hello from ${runId}`,
        createdAt: '2030-01-01T00:00:00.000Z',
      });
      const events = (runId: string) => [
        { runId, type: 'message.user' as const, data: { text: `hello from ${runId}` } },
        { runId, type: 'run.queued' as const, data: { attempt: 1 } },
      ];
      const r1 = await store.queueMessage({
        run: newRun('r1', 's1', { idempotencyKey: 'k1' }),
        message: message('r1'),
        events: events('r1'),
      });
      expect(r1.run).toMatchObject({ id: 'r1', sessionId: 's1', status: 'queued', idempotencyKey: 'k1' });
      expect(r1.events.map((e) => [e.seq, e.type, e.runId])).toEqual([
        [1, 'message.user', 'r1'],
        [2, 'run.queued', 'r1'],
      ]);
      expect(await store.listEvents('s1', 0, 10)).toEqual(r1.events);
      expect(await store.getRun('r1')).toEqual(r1.run);
      expect((await store.listMessages('s1')).map((m) => [m.id, m.text])).toEqual([
        ['r1-u', 'hello from r1'],
      ]);
      expect((await store.getSession('s1'))?.status).toBe('queued');

      // A session that is not idle keeps its status.
      await store.updateSession('s1', { status: 'running' });
      await store.queueMessage({ run: newRun('r2', 's1'), message: message('r2'), events: events('r2') });
      expect((await store.getSession('s1'))?.status).toBe('running');

      // A taken idempotency key stores nothing at all: no run, no message, no event.
      await store.updateSession('s1', { status: 'idle' });
      await expect(
        store.queueMessage({
          run: newRun('r3', 's1', { idempotencyKey: 'k1' }),
          message: message('r3'),
          events: events('r3'),
        }),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(await store.getRun('r3')).toBeUndefined();
      expect((await store.listMessages('s1')).map((m) => m.id)).toEqual(['r1-u', 'r2-u']);
      expect((await store.listEvents('s1', 0, 10)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect((await store.getSession('s1'))?.status).toBe('idle');
      await expect(
        store.queueMessage({ run: newRun('r4', 'nope'), message: message('r4'), events: events('r4') }),
      ).rejects.toBeInstanceOf(NotFoundError);
    });
  });
}
