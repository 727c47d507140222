// Store contract: workflows, callback outbox, audit.
import { describe, expect, it } from 'vitest';
import { newRun, newSession, newWorkflow } from '../fixtures/records.ts';
import { type Ctx, createWf } from './ctx.ts';

export function workflowsContract(ctx: Ctx): void {
  describe('workflows', () => {
    it('creates workflow, session and run together', async () => {
      const store = ctx.store;
      const w = newWorkflow('wf1', {
        repoUrl: 'https://r',
        callbackUrl: 'https://cb',
        idempotencyKey: 'idem-1',
        priority: 'high',
      });
      const res = await store.createWorkflow(
        w,
        newSession(w.sessionId, { workflowId: w.id }),
        newRun(w.runId, w.sessionId, { workflowId: w.id, priority: 2 }),
        [],
      );
      expect(res.created).toBe(true);
      expect(res.workflow).toEqual(w);
      expect(await store.getWorkflow('wf1')).toEqual(w);
      expect((await store.getSession(w.sessionId))!.workflowId).toBe('wf1');
      expect(await store.getRun(w.runId)).toMatchObject({
        workflowId: 'wf1',
        status: 'queued',
        priority: 2,
      });
      expect(await store.getWorkflow('nope')).toBeUndefined();
    });

    it('keeps policy, notify and credential of a workflow, its session and its run', async () => {
      const store = ctx.store;
      const policy = {
        approve: ['git.push', 'shell:rm *'],
        approvalTimeoutMs: 5_000,
        budget: { maxCostUsd: 2 },
      };
      const w = newWorkflow('wfp', {
        policy,
        notify: ['approval.requested', 'run.started'],
        credential: 'key:abc',
      });
      await store.createWorkflow(
        w,
        newSession(w.sessionId, { workflowId: w.id, policy, credential: 'key:abc' }),
        newRun(w.runId, w.sessionId, { workflowId: w.id, credential: 'key:abc' }),
        [],
      );
      expect(await store.getWorkflow('wfp')).toMatchObject({
        policy,
        notify: ['approval.requested', 'run.started'],
        credential: 'key:abc',
      });
      expect(await store.getSession(w.sessionId)).toMatchObject({ policy, credential: 'key:abc' });
      expect(await store.getRun(w.runId)).toMatchObject({ credential: 'key:abc' });
      await store.createSession(newSession('plain'));
      const plain = (await store.getSession('plain'))!;
      expect('policy' in plain || 'credential' in plain).toBe(false);
    });

    it('returns the existing workflow for a used idempotency key and creates nothing', async () => {
      const store = ctx.store;
      const first = await createWf(store, 'wf1', { idempotencyKey: 'k' });
      const second = await createWf(store, 'wf2', { idempotencyKey: 'k' });
      expect(second.created).toBe(false);
      expect(second.workflow).toEqual(first.workflow);
      expect(await store.getWorkflow('wf2')).toBeUndefined();
      expect(await store.getSession('ses_wf2')).toBeUndefined();
      expect(await store.getRun('run_wf2')).toBeUndefined();
      expect((await createWf(store, 'wf3')).created).toBe(true);
      expect((await createWf(store, 'wf4')).created).toBe(true);
    });

    it('creates exactly one workflow when the same key races (two store instances)', async () => {
      const store = ctx.store;
      const second = await ctx.open();
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          createWf(i % 2 ? store : second, `wf${i}`, { idempotencyKey: 'race' }),
        ),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      const winner = results.find((r) => r.created)!.workflow.id;
      for (const r of results) expect(r.workflow.id).toBe(winner);
      let sessions = 0;
      for (let i = 0; i < 10; i++) if (await store.getSession(`ses_wf${i}`)) sessions++;
      expect(sessions).toBe(1);
      expect(await store.countRuns('queued')).toBe(1);
    });

    it('updates patches, clears optional fields with undefined', async () => {
      const store = ctx.store;
      await createWf(store, 'wf1');
      const result = { summary: 'done', changedFiles: ['a.ts'], commits: [{ sha: 'abc', message: 'm' }] };
      await store.updateWorkflow('wf1', {
        status: 'completed',
        attempts: 2,
        startedAt: '2030-01-01T00:00:00.000Z',
        completedAt: '2030-01-01T00:01:00.000Z',
        result,
        error: { code: 'internal', message: 'y' },
        usage: { inputTokens: 3, outputTokens: 4, costUsd: 0.5 },
      });
      expect(await store.getWorkflow('wf1')).toMatchObject({
        status: 'completed',
        attempts: 2,
        startedAt: '2030-01-01T00:00:00.000Z',
        completedAt: '2030-01-01T00:01:00.000Z',
        result,
        error: { code: 'internal', message: 'y' },
        usage: { inputTokens: 3, outputTokens: 4, costUsd: 0.5 },
        instructions: 'instructions of wf1',
      });
      await store.updateWorkflow('wf1', { error: undefined });
      expect('error' in (await store.getWorkflow('wf1'))!).toBe(false);
      await store.updateWorkflow('wf1', {});
    });

    it('lists newest first with filters and cursor', async () => {
      const store = ctx.store;
      for (let i = 0; i < 12; i++) {
        await createWf(store, `wf${String(i).padStart(2, '0')}`, {
          type: i % 3 === 0 ? 'refactor' : 'custom',
        });
      }
      await store.updateWorkflow('wf03', { status: 'running' });
      await store.updateWorkflow('wf06', { status: 'running' });
      const p1 = await store.listWorkflows({ limit: 5 });
      expect(p1.items.map((w) => w.id)).toEqual(['wf11', 'wf10', 'wf09', 'wf08', 'wf07']);
      const p2 = await store.listWorkflows({ limit: 5, cursor: p1.nextCursor! });
      expect(p2.items.map((w) => w.id)).toEqual(['wf06', 'wf05', 'wf04', 'wf03', 'wf02']);
      const p3 = await store.listWorkflows({ limit: 5, cursor: p2.nextCursor! });
      expect(p3.items.map((w) => w.id)).toEqual(['wf01', 'wf00']);
      expect(p3.nextCursor).toBeNull();
      expect((await store.listWorkflows({ limit: 10, status: 'running' })).items.map((w) => w.id)).toEqual([
        'wf06',
        'wf03',
      ]);
      const refactors = await store.listWorkflows({ limit: 2, type: 'refactor' });
      expect(refactors.items.map((w) => w.id)).toEqual(['wf09', 'wf06']);
      const more = await store.listWorkflows({ limit: 2, type: 'refactor', cursor: refactors.nextCursor! });
      expect(more.items.map((w) => w.id)).toEqual(['wf03', 'wf00']);
      expect(
        (await store.listWorkflows({ limit: 10, type: 'refactor', status: 'running' })).items.map(
          (w) => w.id,
        ),
      ).toEqual(['wf06', 'wf03']);
    });
  });

  describe('outbox', () => {
    it('enqueues once per workflow, lists due entries, updates', async () => {
      const store = ctx.store;
      const now = Date.now();
      const at = (ms: number) => new Date(now + ms).toISOString();
      const base = {
        url: 'https://cb',
        body: '{}',
        status: 'pending' as const,
        attempts: 0,
        createdAt: at(0),
      };
      await store.enqueueOutbox({ ...base, id: 'o1', workflowId: 'w1', nextAttemptAt: at(-1000) });
      await store.enqueueOutbox({ ...base, id: 'o2', workflowId: 'w2', nextAttemptAt: at(-2000) });
      await store.enqueueOutbox({ ...base, id: 'o3', workflowId: 'w3', nextAttemptAt: at(60_000) });
      await store.enqueueOutbox({ ...base, id: 'o1-again', workflowId: 'w1', nextAttemptAt: at(-5000) });
      expect((await store.dueOutbox(at(0), 10)).map((o) => o.id)).toEqual(['o2', 'o1']);
      expect((await store.dueOutbox(at(0), 1)).map((o) => o.id)).toEqual(['o2']);
      await store.updateOutbox('o2', { attempts: 1, nextAttemptAt: at(30_000), lastError: 'HTTP 500' });
      expect((await store.dueOutbox(at(0), 10)).map((o) => o.id)).toEqual(['o1']);
      await store.updateOutbox('o1', { status: 'delivered', attempts: 1, deliveredAt: at(0) });
      expect(await store.dueOutbox(at(0), 10)).toEqual([]);
      expect(await store.getOutboxForWorkflow('w1')).toEqual({
        ...base,
        kind: 'result',
        id: 'o1',
        workflowId: 'w1',
        status: 'delivered',
        attempts: 1,
        nextAttemptAt: at(-1000),
        deliveredAt: at(0),
      });
      expect(await store.getOutboxForWorkflow('w2')).toMatchObject({ attempts: 1, lastError: 'HTTP 500' });
      expect(await store.getOutboxForWorkflow('nope')).toBeUndefined();
      expect((await store.dueOutbox(at(120_000), 10)).map((o) => o.id)).toEqual(['o2', 'o3']);
    });

    it('keeps the traceparent a delivery continues', async () => {
      const store = ctx.store;
      const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const now = new Date().toISOString();
      const row = { url: 'https://cb', body: '{}', status: 'pending' as const, attempts: 0, createdAt: now };
      await store.enqueueOutbox({ ...row, id: 'ot', workflowId: 'wt', nextAttemptAt: now, traceParent: tp });
      expect(await store.getOutboxForWorkflow('wt')).toMatchObject({ traceParent: tp });
      expect((await store.dueOutbox(now, 10)).find((o) => o.id === 'ot')?.traceParent).toBe(tp);
    });
  });

  describe('audit', () => {
    it('lists newest first with filters, since and cursor', async () => {
      const store = ctx.store;
      const t0 = Date.parse('2030-01-01T00:00:00.000Z');
      for (let i = 0; i < 9; i++) {
        await store.appendAudit({
          ts: new Date(t0 + i * 1000).toISOString(),
          actor: i % 2 ? 'alice' : 'bob',
          action: i % 3 ? 'session.create' : 'workflow.cancel',
          target: `t${i % 2}`,
          outcome: i === 4 ? 'denied' : 'ok',
          details: { i },
        });
      }
      // same timestamp twice: ties are ordered by id
      await store.appendAudit({
        ts: new Date(t0 + 8000).toISOString(),
        actor: 'carol',
        action: 'x',
        outcome: 'error',
        details: {},
      });
      const p1 = await store.listAudit({ limit: 4 });
      expect(p1.items.map((a) => a.details.i ?? 'carol')).toEqual(['carol', 8, 7, 6]);
      expect(p1.items[0]).toMatchObject({ actor: 'carol', action: 'x', outcome: 'error' });
      expect('target' in p1.items[0]!).toBe(false);
      expect(typeof p1.items[0]!.id).toBe('number');
      const p2 = await store.listAudit({ limit: 4, cursor: p1.nextCursor! });
      expect(p2.items.map((a) => a.details.i)).toEqual([5, 4, 3, 2]);
      const p3 = await store.listAudit({ limit: 4, cursor: p2.nextCursor! });
      expect(p3.items.map((a) => a.details.i)).toEqual([1, 0]);
      expect(p3.nextCursor).toBeNull();
      expect((await store.listAudit({ limit: 50, actor: 'alice' })).items.map((a) => a.details.i)).toEqual([
        7, 5, 3, 1,
      ]);
      expect(
        (await store.listAudit({ limit: 50, action: 'workflow.cancel' })).items.map((a) => a.details.i),
      ).toEqual([6, 3, 0]);
      expect(
        (await store.listAudit({ limit: 50, target: 't0', actor: 'bob' })).items.map((a) => a.details.i),
      ).toEqual([8, 6, 4, 2, 0]);
      const since = await store.listAudit({
        limit: 2,
        since: new Date(t0 + 6000).toISOString(),
        actor: 'bob',
      });
      expect(since.items.map((a) => a.details.i)).toEqual([8, 6]);
      expect(since.nextCursor).toBeNull();
      const sinceAll = await store.listAudit({ limit: 2, since: '2030-01-01T00:00:05Z' });
      expect(sinceAll.items.map((a) => a.details.i ?? 'carol')).toEqual(['carol', 8]);
      const rest = await store.listAudit({
        limit: 10,
        since: '2030-01-01T00:00:05Z',
        cursor: sinceAll.nextCursor!,
      });
      expect(rest.items.map((a) => a.details.i)).toEqual([7, 6, 5]);
    });
  });
}
