// Store contract: approvals (docs/api.md §10) — a request with its event and the session's
// `waiting` status, a decision with its event and the session's way back to `running`, the list,
// what a restart resolves — and the workflow notifications the outbox gets with the events.
import { describe, expect, it } from 'vitest';
import type { Event } from '../../../src/protocol/index.ts';
import type { NewApproval, Store } from '../../../src/store/types.ts';
import { newRun, newSession } from '../fixtures/records.ts';
import { type Ctx, createWf, ISO } from './ctx.ts';

const HOUR = 3_600_000;

export function approval(
  id: string,
  runId: string,
  sessionId: string,
  extra: Partial<NewApproval> = {},
): NewApproval {
  return {
    id,
    sessionId,
    runId,
    toolUseId: `tu_${id}`,
    name: 'git',
    input: { operation: 'push' },
    rule: 'git.push',
    expiresAt: new Date(Date.now() + HOUR).toISOString(),
    ...extra,
  };
}

/** A session whose run is claimed (running), with `lease` ms of lease. */
async function runningSession(store: Store, id: string, lease = 60_000) {
  await store.createSession(newSession(id));
  await store.createRun(newRun(`run_${id}`, id));
  const run = (await store.claimNextRun('w1', lease))!;
  await store.updateSession(id, { status: 'running' });
  return run;
}

export function approvalsContract(ctx: Ctx): void {
  describe('approvals', () => {
    it('a request stores the approval, its approval.requested event and the session status waiting together', async () => {
      const store = ctx.store;
      const run = await runningSession(store, 's1');
      const a = approval('apr1', run.id, 's1', { input: { command: 'git push', n: [1, 2] } });
      const res = await store.requestApproval(a);
      expect(res.changed).toBe(true);
      expect(res.outboxQueued).toBe(false);
      expect(res.approval).toEqual({
        id: 'apr1',
        sessionId: 's1',
        runId: run.id,
        toolUseId: 'tu_apr1',
        name: 'git',
        input: { command: 'git push', n: [1, 2] },
        rule: 'git.push',
        status: 'pending',
        requestedAt: expect.stringMatching(ISO),
        expiresAt: a.expiresAt,
      });
      expect(res.events).toHaveLength(1);
      expect(res.events[0]).toMatchObject({
        seq: 1,
        sessionId: 's1',
        runId: run.id,
        type: 'approval.requested',
        data: {
          approvalId: 'apr1',
          toolUseId: 'tu_apr1',
          name: 'git',
          input: { command: 'git push', n: [1, 2] },
          rule: 'git.push',
          expiresAt: a.expiresAt,
        },
      });
      expect(await store.listEvents('s1', 0, 10)).toEqual(res.events);
      expect((await store.getSession('s1'))!.status).toBe('waiting');
      expect(await store.getApproval('apr1')).toEqual(res.approval);
      expect(await store.pendingApprovals(run.id)).toEqual([res.approval]);
      expect(await store.getApproval('nope')).toBeUndefined();
    });

    it('a request for a run that is not running stores nothing', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      await store.createRun(newRun('r1', 's1'));
      const res = await store.requestApproval(approval('apr1', 'r1', 's1'));
      expect(res).toEqual({ changed: false, events: [], outboxQueued: false });
      expect(await store.getApproval('apr1')).toBeUndefined();
      expect((await store.getSession('s1'))!).toMatchObject({ status: 'idle', lastSeq: 0 });
      expect((await store.requestApproval(approval('apr2', 'missing-run', 's1'))).changed).toBe(false);
    });

    it('a decision is stored once, with its event; the session runs again when nothing else waits', async () => {
      const store = ctx.store;
      const run = await runningSession(store, 's1');
      await store.requestApproval(approval('a1', run.id, 's1'));
      await store.requestApproval(approval('a2', run.id, 's1', { toolUseId: 'tu_other' }));
      const first = await store.decideApproval({ id: 'a1', decision: 'allow', by: 'user' });
      expect(first.changed).toBe(true);
      expect(first.approval).toMatchObject({
        id: 'a1',
        status: 'decided',
        decision: 'allow',
        by: 'user',
        decidedAt: expect.stringMatching(ISO),
      });
      expect('message' in first.approval!).toBe(false);
      expect(first.events.map((e) => [e.seq, e.type, e.data])).toEqual([
        [3, 'approval.resolved', { approvalId: 'a1', decision: 'allow', by: 'user' }],
      ]);
      expect((await store.getSession('s1'))!.status).toBe('waiting'); // a2 still waits
      const second = await store.decideApproval({
        id: 'a2',
        decision: 'deny',
        by: 'user',
        message: 'not on a Friday',
      });
      expect(second.events[0]!.data).toEqual({
        approvalId: 'a2',
        decision: 'deny',
        by: 'user',
        message: 'not on a Friday',
      });
      expect(second.approval).toMatchObject({ decision: 'deny', message: 'not on a Friday' });
      expect((await store.getSession('s1'))!.status).toBe('running');
      expect(await store.pendingApprovals(run.id)).toEqual([]);

      // decided already: nothing changes, the approval is returned (a 409, not a 404)
      const again = await store.decideApproval({ id: 'a1', decision: 'deny', by: 'timeout' });
      expect(again).toEqual({ changed: false, approval: first.approval, events: [], outboxQueued: false });
      expect((await store.getApproval('a1'))!.decision).toBe('allow');
      expect((await store.getSession('s1'))!.lastSeq).toBe(4);
      // unknown
      expect(await store.decideApproval({ id: 'nope', decision: 'allow', by: 'user' })).toEqual({
        changed: false,
        events: [],
        outboxQueued: false,
      });
    });

    it('a decision through the wrong session or workflow finds nothing and changes nothing', async () => {
      const store = ctx.store;
      const run = await runningSession(store, 's1');
      await store.createSession(newSession('s2'));
      await store.requestApproval(approval('a1', run.id, 's1', { workflowId: 'wf1' }));
      for (const scope of [
        { sessionId: 's2' },
        { workflowId: 'wf2' },
        { sessionId: 's1', workflowId: 'x' },
      ]) {
        expect(await store.decideApproval({ id: 'a1', decision: 'allow', by: 'user', ...scope })).toEqual({
          changed: false,
          events: [],
          outboxQueued: false,
        });
      }
      expect((await store.getApproval('a1'))!.status).toBe('pending');
      const ok = await store.decideApproval({
        id: 'a1',
        decision: 'allow',
        by: 'user',
        sessionId: 's1',
        workflowId: 'wf1',
      });
      expect(ok.changed).toBe(true);
      // a decided approval through the right scope is still found (409)
      expect(
        (await store.decideApproval({ id: 'a1', decision: 'allow', by: 'user', sessionId: 's1' })).approval,
      ).toMatchObject({ id: 'a1', status: 'decided' });
    });

    it('a decision after the run ended leaves the session as the run left it', async () => {
      const store = ctx.store;
      const run = await runningSession(store, 's1');
      await store.requestApproval(approval('a1', run.id, 's1'));
      await store.finishRun({
        runId: run.id,
        status: 'cancelled',
        usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
        event: { runId: run.id, type: 'run.cancelled', data: {} },
      });
      expect((await store.getSession('s1'))!.status).toBe('idle');
      expect((await store.decideApproval({ id: 'a1', decision: 'deny', by: 'cancel' })).changed).toBe(true);
      expect((await store.getSession('s1'))!.status).toBe('idle');
    });

    it('of two decisions at once exactly one wins', async () => {
      const store = ctx.store;
      const other = await ctx.open();
      const run = await runningSession(store, 's1');
      await store.requestApproval(approval('a1', run.id, 's1'));
      const results = await Promise.all([
        store.decideApproval({ id: 'a1', decision: 'allow', by: 'user' }),
        other.decideApproval({ id: 'a1', decision: 'deny', by: 'timeout' }),
        store.decideApproval({ id: 'a1', decision: 'deny', by: 'cancel' }),
      ]);
      expect(results.filter((r) => r.changed)).toHaveLength(1);
      const events = (await store.listEvents('s1', 0, 10)).filter((e) => e.type === 'approval.resolved');
      expect(events).toHaveLength(1);
      const winner = results.find((r) => r.changed)!.approval!;
      expect(events[0]!.data).toMatchObject({ decision: winner.decision, by: winner.by });
    });

    it('lists newest first, by status, with a cursor', async () => {
      const store = ctx.store;
      const run = await runningSession(store, 's1');
      for (let i = 0; i < 5; i++) await store.requestApproval(approval(`a${i}`, run.id, 's1'));
      await store.decideApproval({ id: 'a1', decision: 'allow', by: 'user' });
      await store.decideApproval({ id: 'a3', decision: 'deny', by: 'timeout' });
      const all = await store.listApprovals({ limit: 50 });
      // requested in order a0…a4 (the same millisecond is possible: ties are ordered by id)
      expect(all.items.map((a) => a.id)).toEqual(['a4', 'a3', 'a2', 'a1', 'a0']);
      expect(all.nextCursor).toBeNull();
      expect((await store.listApprovals({ limit: 50, status: 'pending' })).items.map((a) => a.id)).toEqual([
        'a4',
        'a2',
        'a0',
      ]);
      const decided = await store.listApprovals({ limit: 1, status: 'decided' });
      expect(decided.items.map((a) => [a.id, a.by])).toEqual([['a3', 'timeout']]);
      const rest = await store.listApprovals({ limit: 1, status: 'decided', cursor: decided.nextCursor! });
      expect(rest.items.map((a) => a.id)).toEqual(['a1']);
      expect(rest.nextCursor).toBeNull();
      await expect(store.listApprovals({ limit: 5, cursor: 'garbage!' })).rejects.toMatchObject({
        code: 'invalid_request',
      });
    });

    it('a restart denies the pending approvals of runs it re-queues, and of runs that ended, and no others', async () => {
      let now = Date.now();
      const store = await ctx.open({ now: () => now });
      const lost = await runningSession(store, 'lost', 1_000);
      await store.requestApproval(approval('a-lost', lost.id, 'lost'));
      const live = await runningSession(store, 'live', 60_000);
      await store.requestApproval(approval('a-live', live.id, 'live'));
      const ended = await runningSession(store, 'ended', 60_000);
      await store.requestApproval(approval('a-ended', ended.id, 'ended'));
      await store.requestCancel(ended.id);
      await store.finishRun({
        runId: ended.id,
        status: 'cancelled',
        usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
        event: { runId: ended.id, type: 'run.cancelled', data: {} },
      });
      now += 5_000;
      const events = await store.resolveOrphanedApprovals(new Date(now).toISOString());
      const data = (e: Event) => e.data as Record<string, unknown>;
      expect(events.map((e) => [e.sessionId, e.type, data(e).approvalId, data(e).by]).sort()).toEqual([
        ['ended', 'approval.resolved', 'a-ended', 'restart'],
        ['lost', 'approval.resolved', 'a-lost', 'restart'],
      ]);
      expect(await store.getApproval('a-lost')).toMatchObject({
        status: 'decided',
        decision: 'deny',
        by: 'restart',
      });
      expect((await store.getApproval('a-live'))!.status).toBe('pending');
      expect(await store.resolveOrphanedApprovals(new Date(now).toISOString())).toEqual([]);
      // the embedded store's start-up: every running run is re-queued
      const all = await store.resolveOrphanedApprovals(new Date(now + 365 * 24 * HOUR).toISOString());
      expect(all.map((e) => data(e).approvalId)).toEqual(['a-live']);
      expect((await store.getSession('live'))!.status).toBe('running');
    });

    it('approvals go with their session', async () => {
      const store = ctx.store;
      const run = await runningSession(store, 's1');
      await store.requestApproval(approval('a1', run.id, 's1'));
      await store.deleteSession('s1');
      expect(await store.getApproval('a1')).toBeUndefined();
      expect((await store.listApprovals({ limit: 10 })).items).toEqual([]);
    });
  });

  describe('workflow notifications in the outbox', () => {
    const CB = 'https://cb.example/hook';

    /** A workflow with a callback that notifies `notify`, its run claimed. */
    async function notifyingWorkflow(
      store: Store,
      id: string,
      notify: string[],
      callbackUrl: string | null = CB,
    ) {
      await createWf(
        store,
        id,
        {
          ...(callbackUrl ? { callbackUrl } : {}),
          notify: notify as never,
        },
        [
          { runId: `run_${id}`, type: 'message.user', data: { text: 'go' } },
          { runId: `run_${id}`, type: 'run.queued', data: { attempt: 1 } },
        ],
      );
      return (await store.claimNextRun('w', 60_000))!;
    }

    const bodies = async (store: Store, wf: string) =>
      (await store.listOutboxForWorkflow(wf)).map((o) =>
        o.kind === 'event'
          ? (() => {
              const b = JSON.parse(o.body) as {
                kind: string;
                workflowId: string;
                event: { seq: number; type: string };
              };
              expect(b.kind).toBe('event');
              expect(b.workflowId).toBe(wf);
              return `${o.id}:${b.event.seq}:${b.event.type}`;
            })()
          : `${o.id}:result`,
      );

    it('queues the listed event types with the events, on every path that stores events', async () => {
      const store = ctx.store;
      const run = await notifyingWorkflow(store, 'wf1', [
        'run.queued',
        'approval.requested',
        'approval.resolved',
        'tool.started',
        'workflow.status',
        'run.completed',
      ]);
      // createWorkflow's first events
      expect(await bodies(store, 'wf1')).toEqual(['ev_wf1_2:2:run.queued']);
      // appendEvents; appendEventBatches with another session; a type not listed; deltas never
      await store.appendEvents('ses_wf1', [
        { runId: run.id, type: 'run.started', data: { attempt: 1, engine: 'native', model: 'm' } },
        { runId: run.id, type: 'tool.started', data: { toolUseId: 't1', name: 'git', input: {} } },
      ]);
      await store.createSession(newSession('plain'));
      await store.appendEventBatches([
        { sessionId: 'plain', events: [{ type: 'run.queued', data: { attempt: 1 } }] },
        {
          sessionId: 'ses_wf1',
          events: [
            { runId: run.id, type: 'text.delta', data: { text: 'hi' } },
            { runId: run.id, type: 'tool.started', data: { toolUseId: 't2', name: 'git', input: {} } },
          ],
        },
      ]);
      // an approval's request and decision
      const req = await store.requestApproval(approval('a1', run.id, 'ses_wf1', { workflowId: 'wf1' }));
      expect(req.outboxQueued).toBe(true);
      const dec = await store.decideApproval({ id: 'a1', decision: 'allow', by: 'user', workflowId: 'wf1' });
      expect(dec.outboxQueued).toBe(true);
      // the run's end with the workflow's status and its result
      const now = new Date().toISOString();
      await store.finishRun({
        runId: run.id,
        status: 'completed',
        usage: { inputTokens: 1, outputTokens: 1, costUsd: 0 },
        event: {
          runId: run.id,
          type: 'run.completed',
          data: { stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 1, costUsd: 0 } },
        },
        workflow: {
          id: 'wf1',
          patch: { status: 'completed', completedAt: now },
          event: { runId: run.id, type: 'workflow.status', data: { status: 'completed', workflowId: 'wf1' } },
          outbox: {
            id: 'cb_wf1',
            workflowId: 'wf1',
            url: CB,
            body: '{"id":"wf1"}',
            status: 'pending',
            attempts: 0,
            nextAttemptAt: now,
            createdAt: now,
          },
        },
      });
      expect(await bodies(store, 'wf1')).toEqual([
        'ev_wf1_2:2:run.queued',
        'ev_wf1_4:4:tool.started',
        'ev_wf1_6:6:tool.started',
        'ev_wf1_7:7:approval.requested',
        'ev_wf1_8:8:approval.resolved',
        'ev_wf1_9:9:run.completed',
        'ev_wf1_10:10:workflow.status',
        'cb_wf1:result',
      ]);
      const rows = await store.listOutboxForWorkflow('wf1');
      expect(rows[0]).toMatchObject({ kind: 'event', url: CB, status: 'pending', attempts: 0 });
      const body = JSON.parse(rows[3]!.body) as { event: unknown };
      expect(body.event).toEqual((await store.listEvents('ses_wf1', 6, 1))[0]);
      // the terminal callback is still the workflow's one result
      expect(await store.getOutboxForWorkflow('wf1')).toMatchObject({ id: 'cb_wf1', kind: 'result' });
      expect(await store.listOutboxForWorkflow('plain')).toEqual([]);
    });

    it('nothing is queued for a workflow without a callbackUrl or without the type', async () => {
      const store = ctx.store;
      const run = await notifyingWorkflow(store, 'wf1', ['run.queued', 'approval.requested'], null);
      await store.requestApproval(approval('a1', run.id, 'ses_wf1'));
      expect(await store.listOutboxForWorkflow('wf1')).toEqual([]);
      await createWf(store, 'wf2', { callbackUrl: CB }, [{ type: 'run.queued', data: { attempt: 1 } }]);
      expect(await store.listOutboxForWorkflow('wf2')).toEqual([]);
    });

    it('delivers one row per workflow at a time, in the order queued; the result waits for the notifications', async () => {
      const store = ctx.store;
      const run = await notifyingWorkflow(store, 'wf1', ['run.queued', 'approval.requested']);
      await notifyingWorkflow(store, 'wf2', ['run.queued']);
      await store.requestApproval(approval('a1', run.id, 'ses_wf1'));
      const later = new Date(Date.now() + 1_000).toISOString();
      await store.enqueueOutbox({
        id: 'cb_wf1',
        workflowId: 'wf1',
        url: CB,
        body: '{}',
        status: 'pending',
        attempts: 0,
        nextAttemptAt: new Date(Date.now() - 60_000).toISOString(), // due long before the others
        createdAt: later,
      });
      const due = async () =>
        (await store.dueOutbox(new Date(Date.now() + 10_000).toISOString(), 10)).map((o) => o.id).sort();
      expect(await due()).toEqual(['ev_wf1_2', 'ev_wf2_2']);
      await store.updateOutbox('ev_wf1_2', { status: 'delivered', attempts: 1 });
      expect(await due()).toEqual(['ev_wf1_3', 'ev_wf2_2']);
      // a failed (given up) notification no longer holds the others back
      await store.updateOutbox('ev_wf1_3', { status: 'failed', attempts: 9 });
      expect(await due()).toEqual(['cb_wf1', 'ev_wf2_2']);
      // a row waiting for its retry holds back the rows behind it
      await store.updateOutbox('cb_wf1', { nextAttemptAt: new Date(Date.now() + HOUR).toISOString() });
      expect(await due()).toEqual(['ev_wf2_2']);
    });
  });
}
