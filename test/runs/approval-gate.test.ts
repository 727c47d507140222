// The approval gate (runs/approval-gate.ts) and how the scheduler counts a run that waits at it, at
// their own APIs: real in-memory SQLite, the real executor and scheduler, a scripted engine, and a
// manual clock that the timeouts, leases and the store's timestamps all follow.
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.ts';
import { SYSTEM_ACTOR } from '../../src/runs/actions.ts';
import {
  type ApprovalGateOptions,
  denialMessage,
  RunApprovalGate,
  type RunSlot,
} from '../../src/runs/approval-gate.ts';
import { ApprovalService } from '../../src/runs/approvals.ts';
import type { StopReason } from '../../src/runs/lifecycle.ts';
import type { Store } from '../../src/store/types.ts';
import { until } from '../helpers/sleep.ts';
import { type Harness, makeHarness } from './harness.ts';

const PUSH = { name: 'git', input: { operation: 'push' } };
const POLICY = { approve: ['git.push'], approvalTimeoutMs: 1_000 };

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function harness(env: Record<string, string> = {}): Promise<Harness> {
  h = await makeHarness(env);
  return h;
}

/** A session with the policy and a claimed (running) run, as the executor would have it. */
async function runningRun(h: Harness, id = 's1', policy: object = POLICY) {
  await h.session(id, { policy });
  await h.run(`run_${id}`, id);
  const run = (await h.store.claimNextRun('w1', 600_000))!;
  await h.store.updateSession(id, { status: 'running' });
  return { run, session: (await h.store.getSession(id))! };
}

interface Gate {
  gate: RunApprovalGate;
  controller: AbortController;
  slot: RunSlot & { calls: string[] };
  stop(reason: StopReason): void;
}

function gateFor(h: Harness, r: Awaited<ReturnType<typeof runningRun>>, store: Store = h.store): Gate {
  const controller = new AbortController();
  let reason: StopReason | undefined;
  const calls: string[] = [];
  const slot = {
    calls,
    park: () => void calls.push('park'),
    resume: async () => void calls.push('resume'),
  };
  const opts: ApprovalGateOptions = {
    run: r.run,
    session: r.session,
    rules: r.session.policy?.approve ?? [],
    timeoutMs: r.session.policy?.approvalTimeoutMs ?? 900_000,
    signal: controller.signal,
    stopReason: () => reason,
    slot,
  };
  const gate = new RunApprovalGate(
    {
      store,
      eventLog: h.eventLog,
      lifecycle: h.lifecycle,
      logger: silentLogger,
      clock: h.clock,
      pollMs: 500,
    },
    opts,
  );
  return {
    gate,
    controller,
    slot,
    stop(r) {
      reason = r;
      controller.abort(new Error(r));
    },
  };
}

/** A promise whose settlement the test can look at without awaiting it. */
function watch<T>(p: Promise<T>) {
  const w: { value?: T; done: boolean; promise: Promise<T> } = { done: false, promise: p };
  void p.then((v) => {
    w.value = v;
    w.done = true;
  });
  return w;
}

const pending = async (h: Harness) => (await h.store.listApprovals({ limit: 50, status: 'pending' })).items;
const types = async (h: Harness, sessionId: string) => (await h.events(sessionId)).map((e) => e.type);

describe('approval gate', () => {
  it('a call that no rule names runs at once and leaves no trace', async () => {
    const h = await harness();
    const g = gateFor(h, await runningRun(h));
    expect(await g.gate.check({ toolUseId: 't1', name: 'git', input: { operation: 'status' } })).toEqual({
      allow: true,
    });
    expect(await g.gate.check({ toolUseId: 't2', name: 'bash', input: { command: 'git status' } })).toEqual({
      allow: true,
    });
    expect(await h.store.listApprovals({ limit: 5 })).toEqual({ items: [], nextCursor: null });
    expect(await h.events('s1')).toEqual([]);
    expect(g.slot.calls).toEqual([]);
  });

  it('a matching call waits (the run parked, the session waiting) until a person allows it', async () => {
    const h = await harness();
    const r = await runningRun(h);
    const g = gateFor(h, r);
    const check = watch(g.gate.check({ toolUseId: 'tu1', ...PUSH }));
    await until(async () => (await pending(h)).length === 1, 'approval requested');
    const [a] = await pending(h);
    expect(a).toMatchObject({
      toolUseId: 'tu1',
      name: 'git',
      rule: 'git.push',
      input: { operation: 'push' },
    });
    expect(Date.parse(a!.expiresAt) - Date.parse(a!.requestedAt)).toBe(1_000);
    expect((await h.store.getSession('s1'))!.status).toBe('waiting');
    expect(g.slot.calls).toEqual(['park']);
    expect(check.done).toBe(false);

    const service = new ApprovalService({ store: h.store, eventLog: h.eventLog, lifecycle: h.lifecycle });
    expect(await service.decide({ sessionId: 's1' }, a!.id, { decision: 'allow' }, SYSTEM_ACTOR)).toEqual({
      approvalId: a!.id,
      decision: 'allow',
      by: 'user',
    });
    expect(await check.promise).toEqual({ allow: true });
    expect(g.slot.calls).toEqual(['park', 'resume']);
    expect((await h.store.getSession('s1'))!.status).toBe('running');
    expect(await types(h, 's1')).toEqual(['approval.requested', 'approval.resolved']);
    // twice: 409; through another session: 404
    await expect(
      service.decide({ sessionId: 's1' }, a!.id, { decision: 'deny' }, SYSTEM_ACTOR),
    ).rejects.toMatchObject({
      code: 'conflict',
    });
    await h.session('s2');
    await expect(
      service.decide({ sessionId: 's2' }, a!.id, { decision: 'deny' }, SYSTEM_ACTOR),
    ).rejects.toMatchObject({
      code: 'not_found',
    });
  });

  it('a denial with a message is the tool error the model reads', async () => {
    const h = await harness();
    const g = gateFor(h, await runningRun(h));
    const check = g.gate.check({ toolUseId: 'tu1', ...PUSH });
    await until(async () => (await pending(h)).length === 1, 'approval requested');
    const service = new ApprovalService({ store: h.store, eventLog: h.eventLog, lifecycle: h.lifecycle });
    await service.decide(
      { sessionId: 's1' },
      (await pending(h))[0]!.id,
      { decision: 'deny', message: 'not on main' },
      SYSTEM_ACTOR,
    );
    expect(await check).toEqual({ allow: false, message: 'denied by the user: not on main' });
  });

  it('times out exactly at expiresAt on the clock: denied by timeout, and a late decision is a conflict', async () => {
    const h = await harness();
    const g = gateFor(h, await runningRun(h));
    const check = watch(g.gate.check({ toolUseId: 'tu1', ...PUSH }));
    await until(async () => (await pending(h)).length === 1, 'approval requested');
    const id = (await pending(h))[0]!.id;
    await h.clock.advance(999);
    expect(check.done).toBe(false);
    expect((await h.store.getApproval(id))!.status).toBe('pending');
    await h.clock.advance(1);
    await until(() => check.done, 'timed out');
    expect(check.value).toEqual({
      allow: false,
      message: 'denied: nobody decided within 1 s (the approval timed out); do not retry this call',
    });
    expect(await h.store.getApproval(id)).toMatchObject({
      status: 'decided',
      decision: 'deny',
      by: 'timeout',
    });
    const resolved = (await h.events('s1')).find((e) => e.type === 'approval.resolved')!;
    expect(resolved.data).toEqual({ approvalId: id, decision: 'deny', by: 'timeout' });
    const service = new ApprovalService({ store: h.store, eventLog: h.eventLog, lifecycle: h.lifecycle });
    await expect(
      service.decide({ sessionId: 's1' }, id, { decision: 'allow' }, SYSTEM_ACTOR),
    ).rejects.toMatchObject({
      code: 'conflict',
    });
  });

  it('a decision in the last millisecond wins over the timeout', async () => {
    const h = await harness();
    const g = gateFor(h, await runningRun(h));
    const check = watch(g.gate.check({ toolUseId: 'tu1', ...PUSH }));
    await until(async () => (await pending(h)).length === 1, 'approval requested');
    const id = (await pending(h))[0]!.id;
    await h.clock.advance(999);
    const service = new ApprovalService({ store: h.store, eventLog: h.eventLog, lifecycle: h.lifecycle });
    await service.decide({ sessionId: 's1' }, id, { decision: 'allow' }, SYSTEM_ACTOR);
    await h.clock.advance(10);
    expect(await check.promise).toEqual({ allow: true });
    expect(await h.store.getApproval(id)).toMatchObject({ decision: 'allow', by: 'user' });
    expect((await h.events('s1')).filter((e) => e.type === 'approval.resolved')).toHaveLength(1);
    expect(h.clock.pending).toBe(0); // the timeout timer is gone
  });

  it.each([
    ['cancel', 'cancel'],
    ['timeout', 'cancel'],
    ['quota', 'cancel'],
    ['drain', 'restart'],
    ['lease_lost', 'restart'],
  ] as const)('a run stopped for %s denies its waiting call by %s', async (reason, by) => {
    const h = await harness();
    const g = gateFor(h, await runningRun(h));
    const check = g.gate.check({ toolUseId: 'tu1', ...PUSH });
    await until(async () => (await pending(h)).length === 1, 'approval requested');
    g.stop(reason);
    expect(await check).toEqual({ allow: false, message: denialMessage({ decision: 'deny', by }, 1_000) });
    await g.gate.close();
    const [a] = (await h.store.listApprovals({ limit: 5 })).items;
    expect(a).toMatchObject({ status: 'decided', decision: 'deny', by });
    expect(g.slot.calls).toEqual(['park']); // a stopped run does not ask for its slot back
    // after the stop, nothing is asked any more
    expect((await g.gate.check({ toolUseId: 'tu2', ...PUSH })).allow).toBe(false);
    expect(await h.store.listApprovals({ limit: 5 })).toMatchObject({ items: [{ id: a!.id }] });
  });

  it('close() denies what still waits when the engine returns; open() denies what an earlier attempt left', async () => {
    const h = await harness();
    const r = await runningRun(h);
    const g = gateFor(h, r);
    const check = g.gate.check({ toolUseId: 'tu1', ...PUSH });
    await until(async () => (await pending(h)).length === 1, 'approval requested');
    await g.gate.close();
    expect((await check).allow).toBe(false);
    expect((await h.store.listApprovals({ limit: 5 })).items[0]).toMatchObject({ by: 'cancel' });

    // an approval of this run that nobody resolved (a crash): the next attempt's gate denies it first
    await h.store.requestApproval({
      id: 'apr_old',
      sessionId: 's1',
      runId: r.run.id,
      toolUseId: 'old',
      name: 'git',
      input: {},
      rule: 'git.push',
      expiresAt: new Date(h.clock.now() + 60_000).toISOString(),
    });
    await gateFor(h, r).gate.open();
    expect(await h.store.getApproval('apr_old')).toMatchObject({ status: 'decided', by: 'restart' });
  });

  it('a request the store cannot record is denied (fail closed), never allowed', async () => {
    const h = await harness();
    const r = await runningRun(h);
    const broken = new Proxy(h.store, {
      get: (t, p) =>
        p === 'requestApproval'
          ? async () => {
              throw new Error('disk I/O error');
            }
          : typeof t[p as keyof Store] === 'function'
            ? (t[p as keyof Store] as (...a: unknown[]) => unknown).bind(t)
            : t[p as keyof Store],
    }) as Store;
    const g = gateFor(h, r, broken);
    expect(await g.gate.check({ toolUseId: 'tu1', ...PUSH })).toEqual({
      allow: false,
      message: 'denied: the approval request could not be recorded; try again later',
    });
    expect(g.slot.calls).toEqual([]);
  });

  it('on a shared store it also finds a decision no event told it about', async () => {
    const h = await harness();
    const r = await runningRun(h);
    // The same store, but claiming to be shared (several instances); decisions are made "elsewhere":
    // straight in the store, without publishing the event here.
    const shared = new Proxy(h.store, {
      get: (t, p) =>
        p === 'shared'
          ? true
          : typeof t[p as keyof Store] === 'function'
            ? (t[p as keyof Store] as (...a: unknown[]) => unknown).bind(t)
            : t[p as keyof Store],
    }) as Store;
    const g = gateFor(h, r, shared);
    const check = watch(g.gate.check({ toolUseId: 'tu1', ...PUSH }));
    await until(async () => (await pending(h)).length === 1, 'approval requested');
    await h.store.decideApproval({ id: (await pending(h))[0]!.id, decision: 'allow', by: 'user' });
    await h.clock.advance(499);
    expect(check.done).toBe(false);
    await h.clock.advance(1);
    expect(await check.promise).toEqual({ allow: true });
  });
});

describe('the scheduler and a run that waits for approval', () => {
  it('a waiting run frees its slot; once decided it waits for one before it goes on', async () => {
    const h = await harness({ MAX_CONCURRENT_RUNS: '1' });
    await h.session('s1', { policy: { approve: ['git.push'] } });
    await h.session('s2');
    h.engine.script('push', [{ tool: PUSH }]).script('other', [{ wait: 'other' }]);
    await h.run('push', 's1');
    await h.run('other', 's2');
    const scheduler = h.scheduler();
    await scheduler.start();
    const push = await h.engine.started('push');
    await until(async () => (await pending(h)).length === 1, 'approval requested');
    // the waiting run holds no slot: the other run starts
    await h.engine.started('other');
    expect(scheduler.executingCount).toBe(1);
    expect(scheduler.parkedCount).toBe(1);
    const service = new ApprovalService({ store: h.store, eventLog: h.eventLog, lifecycle: h.lifecycle });
    await service.decide({ sessionId: 's1' }, (await pending(h))[0]!.id, { decision: 'allow' }, SYSTEM_ACTOR);
    // decided, but the only slot is taken: it does not go on yet
    await h.clock.advance(1_000);
    expect(push.verdicts).toEqual([]);
    expect(scheduler.executingCount).toBe(1);
    h.engine.release('other');
    await until(() => push.verdicts.length === 1, 'push goes on');
    expect(push.verdicts).toEqual([{ allow: true }]);
    await until(async () => (await h.store.getRun('push'))?.status === 'completed', 'push completed');
    expect(await types(h, 's1')).toEqual([
      'run.started',
      'approval.requested',
      'approval.resolved',
      'run.completed',
    ]);
    expect((await h.store.getSession('s1'))!.status).toBe('idle');
  });

  it('an interrupt while waiting: the approval is denied (cancel) before the run ends', async () => {
    const h = await harness();
    await h.session('s1', { policy: POLICY });
    h.engine.script('push', [{ tool: PUSH }]);
    await h.run('push', 's1');
    const scheduler = h.scheduler();
    await scheduler.start();
    await until(async () => (await pending(h)).length === 1, 'approval requested');
    await h.store.requestCancel('push');
    await h.lifecycle.emit('run.stop', { runId: 'push', reason: 'cancel' });
    await until(async () => (await h.store.getRun('push'))?.status === 'cancelled', 'cancelled');
    const evs = await h.events('s1');
    expect(evs.map((e) => e.type)).toEqual([
      'run.started',
      'approval.requested',
      'approval.resolved',
      'run.cancelled',
    ]);
    expect(evs[2]!.data).toMatchObject({ decision: 'deny', by: 'cancel' });
  });

  it('a drain re-queues a waiting run at once, its approval denied by restart first', async () => {
    const h = await harness();
    await h.session('s1', { policy: POLICY });
    h.engine.script('push', [{ tool: PUSH }]);
    await h.run('push', 's1');
    const scheduler = h.scheduler();
    await scheduler.start();
    await until(async () => (await pending(h)).length === 1, 'approval requested');
    const drained = scheduler.drain(60_000);
    await drained; // without waiting for the grace period: nobody can decide during it
    const evs = await h.events('s1');
    expect(evs.map((e) => e.type)).toEqual([
      'run.started',
      'approval.requested',
      'approval.resolved',
      'run.queued',
      'session.notice',
    ]);
    expect(evs[2]!.data).toMatchObject({ by: 'restart' });
    expect((await h.store.getRun('push'))!.status).toBe('queued');
  });

  it('after a crash, the start-up denies the dead run’s approvals (restart) before it re-queues the run', async () => {
    const h = await harness();
    const r = await runningRun(h); // claimed by a worker that is gone
    await h.store.requestApproval({
      id: 'apr_dead',
      sessionId: 's1',
      runId: r.run.id,
      toolUseId: 'tu',
      name: 'git',
      input: {},
      rule: 'git.push',
      expiresAt: new Date(h.clock.now() + 60_000).toISOString(),
    });
    h.engine.script(r.run.input, [{ block: true }]);
    const scheduler = h.scheduler();
    await scheduler.start();
    await until(async () => (await types(h, 's1')).includes('run.started'), 'run restarted');
    expect(await h.store.getApproval('apr_dead')).toMatchObject({ by: 'restart', decision: 'deny' });
    expect(await types(h, 's1')).toEqual([
      'approval.requested',
      'approval.resolved',
      'run.queued',
      'run.started',
    ]);
  });
});
