// Store contract: the composite state transitions — a run's end with everything that depends on
// it, a workflow's creation with its session, run and first events, a workflow's status change
// with its event — and that each is all-or-nothing when the process dies inside its transaction.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { emptyUsage } from '../../../src/protocol/index.ts';
import type { OutboxRecord, RunFinish, Store, WorkflowTransition } from '../../../src/store/types.ts';
import type { StoreLocation } from '../fixtures/location.ts';
import { newRun, newSession, newWorkflow } from '../fixtures/records.ts';
import { approval } from './approvals.ts';
import { type Ctx, createWf, terminal } from './ctx.ts';

const CHILD = fileURLToPath(new URL('../fixtures/crash-in-transaction.ts', import.meta.url));

/** Runs `method(...args)` in a child process that is SIGKILLed right before its COMMIT. */
async function crashInside(loc: StoreLocation, method: string, args: unknown[]): Promise<number> {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(loc), method, JSON.stringify(args), 'kill'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const signal = await new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, sig) => r(sig)));
  expect(signal, `child did not die inside the transaction: ${out}${err}`).toBe('SIGKILL');
  const m = /in-transaction (\d+)/.exec(out);
  expect(m, out + err).not.toBeNull();
  return Number(m![1]);
}

const usage = { inputTokens: 10, outputTokens: 5, costUsd: 0.25 };

/** A workflow with a callback whose run is claimed (running). */
async function runningWorkflow(store: Store, id: string) {
  await createWf(store, id, { callbackUrl: 'https://cb.example/hook' });
  const run = (await store.claimNextRun('w1', 60_000))!;
  expect(run.workflowId).toBe(id);
  return run;
}

function workflowEnd(id: string, runId: string): NonNullable<RunFinish['workflow']> {
  const now = new Date().toISOString();
  const outbox: OutboxRecord = {
    id: `cb_${id}`,
    workflowId: id,
    url: 'https://cb.example/hook',
    body: '{"id":"x"}',
    status: 'pending',
    attempts: 0,
    nextAttemptAt: now,
    createdAt: now,
  };
  return {
    id,
    patch: { status: 'completed', completedAt: now, usage, result: { summary: 'done' } },
    event: { runId, type: 'workflow.status', data: { status: 'completed', workflowId: id } },
    outbox,
  };
}

function fullFinish(runId: string, sessionId: string, workflowId: string): RunFinish {
  return {
    runId,
    status: 'completed',
    stopReason: 'end_turn',
    usage,
    event: { runId, type: 'run.completed', data: { stopReason: 'end_turn', usage } },
    messages: [
      {
        id: `${runId}-1`,
        sessionId,
        runId,
        role: 'assistant',
        text: 'all done',
        createdAt: new Date().toISOString(),
      },
    ],
    engineState: { conversation: 'c-1' },
    workflow: workflowEnd(workflowId, runId),
  };
}

export function transitionsContract(ctx: Ctx): void {
  describe('composite transitions', () => {
    it('finishRun stores the run, its event, turns, session state and the workflow with its callback together', async () => {
      const store = ctx.store;
      const run = await runningWorkflow(store, 'wf1');
      const res = await store.finishRun(fullFinish(run.id, run.sessionId, 'wf1'));
      expect(res.finished).toBe(true);
      expect(res.outboxQueued).toBe(true);
      expect(res.events.map((e) => e.type)).toEqual(['run.completed', 'workflow.status']);
      expect(res.events.map((e) => e.seq)).toEqual([1, 2]);
      expect(await store.listEvents(run.sessionId, 0, 10)).toEqual(res.events);
      expect(await store.getRun(run.id)).toMatchObject({
        status: 'completed',
        stopReason: 'end_turn',
        usage,
      });
      const session = (await store.getSession(run.sessionId))!;
      expect(session).toMatchObject({ status: 'idle', usage, lastSeq: 2 });
      expect(session.engineState).toMatchObject({ conversation: 'c-1' });
      expect((await store.listMessages(run.sessionId)).map((m) => m.text)).toEqual(['all done']);
      expect(await store.getWorkflow('wf1')).toMatchObject({
        status: 'completed',
        usage,
        result: { summary: 'done' },
      });
      expect(await store.getOutboxForWorkflow('wf1')).toMatchObject({ id: 'cb_wf1', status: 'pending' });
    });

    it('finishRun happens once: a second end (or one from a state `from` excludes) changes nothing', async () => {
      const store = ctx.store;
      const run = await runningWorkflow(store, 'wf1');
      await store.finishRun(fullFinish(run.id, run.sessionId, 'wf1'));
      const again = await store.finishRun({ ...fullFinish(run.id, run.sessionId, 'wf1'), status: 'failed' });
      expect(again).toEqual({ finished: false, events: [], outboxQueued: false });
      expect((await store.getRun(run.id))!.status).toBe('completed');
      expect((await store.getSession(run.sessionId))!).toMatchObject({ lastSeq: 2, usage });

      await store.createSession(newSession('s2'));
      await store.createRun(newRun('r2', 's2'));
      await store.claimNextRun('w', 60_000);
      const notQueued = await store.finishRun({
        runId: 'r2',
        status: 'cancelled',
        usage: emptyUsage(),
        event: terminal('r2', 'cancelled'),
        from: ['queued'],
      });
      expect(notQueued.finished).toBe(false);
      expect((await store.getRun('r2'))!.status).toBe('running');
    });

    it('finishRun of a queued run leaves the session queued while other runs wait', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      await store.createRun(newRun('r1', 's1'));
      await store.createRun(newRun('r2', 's1'));
      const res = await store.finishRun({
        runId: 'r1',
        status: 'cancelled',
        usage: emptyUsage(),
        event: terminal('r1', 'cancelled'),
        from: ['queued'],
      });
      expect(res.finished).toBe(true);
      expect((await store.getSession('s1'))!.status).toBe('queued');
      expect((await store.claimNextRun('w', 60_000))?.id).toBe('r2');
    });

    it('a terminal workflow is not changed by a later run end; no second callback is queued', async () => {
      const store = ctx.store;
      const run = await runningWorkflow(store, 'wf1');
      const cancelled: WorkflowTransition = {
        id: 'wf1',
        patch: { status: 'cancelled' },
        event: { runId: run.id, type: 'workflow.status', data: { status: 'cancelled', workflowId: 'wf1' } },
      };
      expect(await store.transitionWorkflow(cancelled)).toMatchObject({ type: 'workflow.status', seq: 1 });
      const res = await store.finishRun(fullFinish(run.id, run.sessionId, 'wf1'));
      expect(res.finished).toBe(true);
      expect(res.events.map((e) => e.type)).toEqual(['run.completed']);
      expect(res.outboxQueued).toBe(false);
      expect((await store.getWorkflow('wf1'))!.status).toBe('cancelled');
      expect(await store.getOutboxForWorkflow('wf1')).toBeUndefined();
    });

    it('createWorkflow stores the first events with the workflow; a known idempotency key stores none', async () => {
      const store = ctx.store;
      const events = [
        { runId: 'run_wf1', type: 'message.user' as const, data: { text: 'go' } },
        { runId: 'run_wf1', type: 'run.queued' as const, data: { attempt: 1 } },
      ];
      const first = await createWf(store, 'wf1', { idempotencyKey: 'k' }, events);
      expect(first.events.map((e) => [e.seq, e.type])).toEqual([
        [1, 'message.user'],
        [2, 'run.queued'],
      ]);
      expect((await store.getSession('ses_wf1'))!.lastSeq).toBe(2);
      const second = await createWf(store, 'wf2', { idempotencyKey: 'k' }, events);
      expect(second).toMatchObject({ created: false, events: [] });
      expect(await store.listEvents('ses_wf1', 0, 10)).toHaveLength(2);
    });

    it('transitionWorkflow applies only from the allowed states, with its event', async () => {
      const store = ctx.store;
      await createWf(store, 'wf1');
      const toRunning: WorkflowTransition = {
        id: 'wf1',
        patch: { status: 'running', attempts: 1 },
        event: { runId: 'run_wf1', type: 'workflow.status', data: { status: 'running', workflowId: 'wf1' } },
        from: ['pending'],
      };
      expect(await store.transitionWorkflow(toRunning)).toMatchObject({ seq: 1, type: 'workflow.status' });
      expect(await store.transitionWorkflow(toRunning)).toBeNull(); // no longer pending
      expect(await store.getWorkflow('wf1')).toMatchObject({ status: 'running', attempts: 1 });
      expect(await store.transitionWorkflow({ ...toRunning, id: 'nope', from: undefined })).toBeNull();
      expect((await store.getSession('ses_wf1'))!.lastSeq).toBe(1);
    });
  });

  describe('composite transitions survive a crash inside them as all or nothing', () => {
    it('finishRun: a process killed before COMMIT leaves the run running and nothing else', async () => {
      const store = ctx.store;
      const run = await runningWorkflow(store, 'wf1');
      const f = fullFinish(run.id, run.sessionId, 'wf1');
      const statements = await crashInside(ctx.location, 'finishRun', [f]);
      expect(statements).toBeGreaterThanOrEqual(6); // run, session, messages, events, workflow, outbox
      expect(await store.getRun(run.id)).toMatchObject({ status: 'running' });
      expect(await store.listEvents(run.sessionId, 0, 10)).toEqual([]);
      expect(await store.listMessages(run.sessionId)).toEqual([]);
      const session = (await store.getSession(run.sessionId))!;
      expect(session).toMatchObject({ lastSeq: 0, usage: emptyUsage() });
      expect(session.engineState).not.toHaveProperty('conversation');
      expect((await store.getWorkflow('wf1'))!.status).toBe('pending');
      expect(await store.getOutboxForWorkflow('wf1')).toBeUndefined();
      // …and the same call, uninterrupted, does all of it.
      expect((await store.finishRun(f)).outboxQueued).toBe(true);
      expect((await store.getWorkflow('wf1'))!.status).toBe('completed');
    });

    it('createWorkflow: nothing of the workflow, its session, run or events', async () => {
      const store = ctx.store;
      const w = newWorkflow('wf1', { idempotencyKey: 'k1' });
      const args = [
        w,
        newSession(w.sessionId, { workflowId: w.id }),
        newRun(w.runId, w.sessionId, { workflowId: w.id }),
        [
          { runId: w.runId, type: 'message.user', data: { text: 'go' } },
          { runId: w.runId, type: 'workflow.status', data: { status: 'pending', workflowId: w.id } },
          { runId: w.runId, type: 'run.queued', data: { attempt: 1 } },
        ],
      ];
      expect(await crashInside(ctx.location, 'createWorkflow', args)).toBeGreaterThanOrEqual(4);
      expect(await store.getWorkflow('wf1')).toBeUndefined();
      expect(await store.getSession(w.sessionId)).toBeUndefined();
      expect(await store.getRun(w.runId)).toBeUndefined();
      expect(await store.claimNextRun('w', 1_000)).toBeUndefined();
      // The idempotency key was not taken by the dead attempt.
      const again = await (store.createWorkflow as (...a: unknown[]) => ReturnType<Store['createWorkflow']>)(
        ...args,
      );
      expect(again.created).toBe(true);
      expect(again.events).toHaveLength(3);
    });

    it('requestApproval: the approval, its event, its notification and the waiting status, or none of them', async () => {
      const store = ctx.store;
      await createWf(store, 'wf1', {
        callbackUrl: 'https://cb.example/hook',
        notify: ['approval.requested'],
      });
      const run = (await store.claimNextRun('w1', 60_000))!;
      await store.updateSession(run.sessionId, { status: 'running' });
      const a = approval('apr1', run.id, run.sessionId, { workflowId: 'wf1' });
      expect(await crashInside(ctx.location, 'requestApproval', [a])).toBeGreaterThanOrEqual(4);
      expect(await store.getApproval('apr1')).toBeUndefined();
      expect(await store.listEvents(run.sessionId, 0, 10)).toEqual([]);
      expect(await store.listOutboxForWorkflow('wf1')).toEqual([]);
      expect((await store.getSession(run.sessionId))!).toMatchObject({ status: 'running', lastSeq: 0 });
      const res = await store.requestApproval(a);
      expect(res).toMatchObject({ changed: true, outboxQueued: true });
      expect((await store.getSession(run.sessionId))!.status).toBe('waiting');
    });

    it('decideApproval: the decision, its event and the session running again, or none of them', async () => {
      const store = ctx.store;
      await createWf(store, 'wf1');
      const run = (await store.claimNextRun('w1', 60_000))!;
      await store.requestApproval(approval('apr1', run.id, run.sessionId));
      const d = { id: 'apr1', decision: 'allow', by: 'user' };
      expect(await crashInside(ctx.location, 'decideApproval', [d])).toBeGreaterThanOrEqual(3);
      expect((await store.getApproval('apr1'))!.status).toBe('pending');
      expect((await store.listEvents(run.sessionId, 0, 10)).map((e) => e.type)).toEqual([
        'approval.requested',
      ]);
      expect((await store.getSession(run.sessionId))!.status).toBe('waiting');
      expect((await store.decideApproval({ id: 'apr1', decision: 'allow', by: 'user' })).changed).toBe(true);
      expect((await store.getSession(run.sessionId))!.status).toBe('running');
    });

    it('transitionWorkflow: the status and its event, or neither', async () => {
      const store = ctx.store;
      await createWf(store, 'wf1');
      const t: WorkflowTransition = {
        id: 'wf1',
        patch: { status: 'running', attempts: 1 },
        event: { runId: 'run_wf1', type: 'workflow.status', data: { status: 'running', workflowId: 'wf1' } },
      };
      expect(await crashInside(ctx.location, 'transitionWorkflow', [t])).toBeGreaterThanOrEqual(2);
      expect((await store.getWorkflow('wf1'))!.status).toBe('pending');
      expect((await store.getSession('ses_wf1'))!.lastSeq).toBe(0);
      expect(await store.listEvents('ses_wf1', 0, 10)).toEqual([]);
    });
  });
}
