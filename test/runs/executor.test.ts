// RunExecutor at its own API: one claimed run in, exactly one recorded outcome out. Whatever the
// engine does — returns, fails, crashes, is stopped for a cancel, a timeout or the disk quota —
// the run gets exactly ONE terminal event (after all its deltas), its row and its session get the
// matching status, and the hooks hear of it once. Stopped for a drain the run goes back to the
// queue instead (no terminal event); stopped because its lease went to another worker it is left
// alone (the new owner records the outcome). Real SQLite, real workspace, scripted engine.
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/agent/engine.ts';
import type { StopReason } from '../../src/runs/lifecycle.ts';
import type { RunRecord } from '../../src/store/types.ts';
import { USAGE } from '../helpers/scripted-engine.ts';
import { type Harness, makeHarness, TERMINAL_TYPES } from './harness.ts';

let h: Harness;
beforeEach(async () => {
  h = await makeHarness({ WORKFLOW_MAX_ATTEMPTS: '2', WORKSPACE_QUOTA_INTERVAL_MS: '50' });
  await h.session('s1');
  await h.store.updateSession('s1', { engineState: { kept: 1 } });
});
afterEach(async () => {
  await h.close();
});

/** What the scheduler hands the executor: the run as claimed, its abort signal and stop reason. */
function claimedRun() {
  const controller = new AbortController();
  let reason: StopReason | undefined;
  const stop = (r: StopReason) => {
    reason ??= r;
    controller.abort(new Error(r));
  };
  return {
    stop,
    async execute(run?: RunRecord) {
      const claimed = run ?? (await h.store.claimNextRun('worker-1', 10_000));
      if (!claimed) throw new Error('nothing to claim');
      await h.executor.execute(claimed, controller.signal, () => reason, stop);
      return claimed;
    },
  };
}

const types = async (sessionId = 's1') => (await h.events(sessionId)).map((e) => e.type);

describe('RunExecutor outcomes', () => {
  it('completed: the events in order, one run.completed last, the run, session, messages and usage recorded', async () => {
    await h.run('r1', 's1');
    h.engine.script('r1', {
      steps: [
        { emit: { type: 'text.delta', data: { text: 'Hel' } } },
        { emit: { type: 'text.delta', data: { text: 'lo' } } },
        { emit: { type: 'tool.started', data: { toolUseId: 't1', name: 'bash', input: { command: 'ls' } } } },
        { emit: { type: 'tool.output', data: { toolUseId: 't1', stream: 'stdout', chunk: 'a\n' } } },
        {
          emit: {
            type: 'tool.completed',
            data: { toolUseId: 't1', name: 'bash', isError: false, output: 'a', durationMs: 3 },
          },
        },
        { emit: { type: 'message.assistant', data: { text: 'Hello' } } },
      ],
      result: { engineState: { sdkSession: 'abc' } },
    });
    await claimedRun().execute();

    expect(await types()).toEqual([
      'run.started',
      'text.delta',
      'tool.started',
      'tool.output',
      'tool.completed',
      'message.assistant',
      'run.completed',
    ]);
    const events = await h.events('s1');
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(events[0]!.data).toMatchObject({ attempt: 1, engine: 'native', model: 'test-model' });
    expect(events[1]!.data).toMatchObject({ text: 'Hello' }); // two deltas of one turn, coalesced
    expect(events[6]!.data).toEqual({ stopReason: 'end_turn', usage: USAGE });

    const run = await h.store.getRun('r1');
    expect(run).toMatchObject({ status: 'completed', stopReason: 'end_turn', usage: USAGE });
    expect(run?.completedAt).toBeDefined();
    const session = await h.store.getSession('s1');
    expect(session).toMatchObject({ status: 'idle', usage: USAGE });
    expect(session?.engineState).toEqual({ kept: 1, sdkSession: 'abc' });
    // The engine's turns are kept for the next run's history (the user's own message is stored
    // when the message is accepted, so the engine's copy of it is not stored again).
    expect((await h.store.listMessages('s1')).map((m) => [m.id, m.role, m.text])).toEqual([
      ['r1-1', 'assistant', 'done: r1'],
    ]);
    expect(h.hookCalls.map((c) => c.hook)).toEqual(['started', 'finished']);
    expect(h.hookCalls[1]).toMatchObject({ outcome: { status: 'completed', finalText: 'done: r1' } });
    // The engine ran in the session's workspace with the run's input.
    const ctx = h.engine.calls[0]!.ctx;
    expect(ctx).toMatchObject({ runId: 'r1', sessionId: 's1', input: 'r1', history: [] });
    expect(existsSync(ctx.workspace)).toBe(true);
  });

  it('the next run gets the earlier turns as history, not its own; turns stored by an earlier attempt are not stored again', async () => {
    await h.run('r1', 's1');
    await claimedRun().execute();
    await h.run('r2', 's1');
    const at = new Date(h.clock.now()).toISOString();
    // The user's message (stored when it was accepted), and the turn an earlier attempt of r2
    // stored before its worker died.
    await h.store.addMessage({
      id: 'r2-u',
      sessionId: 's1',
      runId: 'r2',
      role: 'user',
      text: 'r2',
      createdAt: at,
    });
    await h.store.addMessage({
      id: 'r2-1',
      sessionId: 's1',
      runId: 'r2',
      role: 'assistant',
      text: 'from attempt 1',
      createdAt: at,
    });
    await claimedRun().execute();
    expect(h.engine.calls[1]!.ctx.history.map((m) => m.text)).toEqual(['done: r1']);
    expect((await h.store.getRun('r2'))?.status).toBe('completed');
    expect((await h.store.listMessages('s1')).map((m) => [m.id, m.text])).toEqual([
      ['r1-1', 'done: r1'],
      ['r2-u', 'r2'],
      ['r2-1', 'from attempt 1'],
    ]);
  });

  it('failed: a coded engine failure gives one run.failed with its code; tokens spent are still accounted', async () => {
    await h.run('r1', 's1');
    h.engine.script('r1', [
      { emit: { type: 'text.delta', data: { text: 'thinking' } } },
      { fail: new EngineError('llm_error', 'upstream overloaded', USAGE) },
    ]);
    await claimedRun().execute();
    expect(await types()).toEqual(['run.started', 'text.delta', 'run.failed']);
    expect((await h.events('s1'))[2]!.data).toEqual({
      error: { code: 'llm_error', message: 'upstream overloaded' },
    });
    expect(await h.store.getRun('r1')).toMatchObject({
      status: 'failed',
      error: { code: 'llm_error' },
      usage: USAGE,
    });
    expect(await h.store.getSession('s1')).toMatchObject({ status: 'idle', usage: USAGE });
    expect(h.hookCalls.at(-1)).toMatchObject({ hook: 'finished', outcome: { status: 'failed' } });
  });

  it('failed: an engine crash is `internal`; an engine that is not there is `engine_unavailable`', async () => {
    await h.run('r1', 's1');
    h.engine.script('r1', [{ fail: new TypeError('cannot read properties of undefined') }]);
    await claimedRun().execute();
    expect((await h.terminals('s1', 'r1')).map((e) => e.data)).toEqual([
      { error: { code: 'internal', message: 'cannot read properties of undefined' } },
    ]);

    await h.session('s2', { engine: 'claude-code' });
    await h.run('r2', 's2');
    await claimedRun().execute();
    expect(await types('s2')).toEqual(['run.started', 'run.failed']);
    expect((await h.store.getRun('r2'))?.error?.code).toBe('engine_unavailable');
    expect(h.engine.inputs).toEqual(['r1']);
  });

  it('cancelled: a cancel while the engine works gives one run.cancelled after the deltas', async () => {
    await h.run('r1', 's1');
    h.engine.script('r1', [{ emit: { type: 'text.delta', data: { text: 'partial' } } }, { block: true }]);
    const c = claimedRun();
    const done = c.execute();
    await h.engine.started('r1');
    c.stop('cancel');
    await done;
    expect(await types()).toEqual(['run.started', 'text.delta', 'run.cancelled']);
    expect(await h.store.getRun('r1')).toMatchObject({ status: 'cancelled', stopReason: 'cancelled' });
    expect((await h.store.getSession('s1'))?.status).toBe('idle');
    expect(h.engine.calls[0]!.end).toBe('threw');
    expect(h.hookCalls.at(-1)).toMatchObject({ hook: 'finished', outcome: { status: 'cancelled' } });
  });

  it('cancelled before it started: run.cancelled without starting the engine', async () => {
    await h.run('r1', 's1');
    await h.store.requestCancel('r1');
    await claimedRun().execute();
    expect(await types()).toEqual(['run.cancelled']);
    expect((await h.store.getRun('r1'))?.status).toBe('cancelled');
    expect(h.engine.calls).toHaveLength(0);
  });

  it('timeout and disk quota stops fail the run with their own codes', async () => {
    await h.run('r1', 's1');
    h.engine.script('r1', [{ block: true }]);
    const c = claimedRun();
    const done = c.execute();
    await h.engine.started('r1');
    c.stop('timeout');
    await done;
    expect((await h.store.getRun('r1'))?.error).toEqual({
      code: 'timeout',
      message: 'the run exceeded its time limit and was stopped',
    });

    // Over the quota: the executor's watcher (every 50 ms here) asks for the stop itself.
    const small = await makeHarness({ WORKSPACE_QUOTA_BYTES: '65536', WORKSPACE_QUOTA_INTERVAL_MS: '50' });
    try {
      await small.session('s1');
      await small.store.createRun({ id: 'big', sessionId: 's1', input: 'big', priority: 1 });
      small.engine.script('big', [{ write: { file: 'blob', bytes: 1024 * 1024 } }, { block: true }]);
      const claimed = (await small.store.claimNextRun('w', 10_000))!;
      const controller = new AbortController();
      let reason: StopReason | undefined;
      await small.executor.execute(
        claimed,
        controller.signal,
        () => reason,
        (r) => {
          reason ??= r;
          controller.abort(new Error(r));
        },
      );
      expect(reason).toBe('quota');
      const run = await small.store.getRun('big');
      expect(run).toMatchObject({ status: 'failed', error: { code: 'disk_quota_exceeded' } });
      expect(run?.error?.message).toMatch(/over its quota of 65536 bytes/);
      expect((await small.terminals('s1', 'big')).map((e) => e.type)).toEqual(['run.failed']);
    } finally {
      await small.close();
    }
  });
});

describe('RunExecutor stops that are not an outcome', () => {
  it('drain: the run is queued again (no terminal event), its deltas kept, and runs to completion next time', async () => {
    await h.run('r1', 's1');
    h.engine.script('r1', [{ emit: { type: 'text.delta', data: { text: 'half way' } } }, { block: true }]);
    const c = claimedRun();
    const done = c.execute();
    await h.engine.started('r1');
    c.stop('drain');
    await done;
    expect(await types()).toEqual(['run.started', 'text.delta', 'run.queued', 'session.notice']);
    const events = await h.events('s1');
    expect(events[2]!.data).toEqual({ attempt: 2, reason: 'drain' });
    const run = await h.store.getRun('r1');
    expect(run).toMatchObject({ status: 'queued', attempts: 1 });
    expect(run?.workerId).toBeUndefined();
    expect((await h.store.getSession('s1'))?.status).toBe('queued');
    expect(h.hookCalls.map((x) => x.hook)).toEqual(['started', 'requeued']);
    expect(h.hookCalls[1]).toMatchObject({ reason: 'drain' });

    // The next claim runs it again; over both attempts there is exactly one terminal event.
    h.engine.script('r1', []);
    await claimedRun().execute();
    const all = await h.events('s1');
    expect(all.filter((e) => TERMINAL_TYPES.has(e.type)).map((e) => e.type)).toEqual(['run.completed']);
    expect(all.filter((e) => e.type === 'run.started').map((e) => e.data.attempt)).toEqual([1, 2]);
    expect(await h.store.getRun('r1')).toMatchObject({ status: 'completed', attempts: 2 });
  });

  it('lease lost: the run is left to its new owner — no terminal event, no re-queue, its row untouched', async () => {
    await h.run('r1', 's1');
    h.engine.script('r1', [{ block: true }]);
    const c = claimedRun();
    const done = c.execute();
    await h.engine.started('r1');
    // Another worker took the run over (its lease had expired) and is running it now.
    await h.store.requeueExpiredRuns(new Date(h.clock.now() + 3_600_000).toISOString());
    expect((await h.store.claimNextRun('worker-2', 10_000))?.id).toBe('r1');
    c.stop('lease_lost');
    await done;
    expect(await h.terminals('s1', 'r1')).toEqual([]);
    expect(await types()).toEqual(['run.started']);
    expect(await h.store.getRun('r1')).toMatchObject({
      status: 'running',
      workerId: 'worker-2',
      attempts: 2,
    });
    expect((await h.store.getSession('s1'))?.status).toBe('running');
    expect(h.hookCalls.map((x) => x.hook)).toEqual(['started']);
  });

  it('attempts limit: a run claimed more than WORKFLOW_MAX_ATTEMPTS times fails without reaching the engine', async () => {
    await h.run('r1', 's1');
    h.engine.script('r1', [{ block: true }]);
    // Two attempts (the limit here) that die with their worker: each claim counts one.
    for (let i = 0; i < 2; i++) {
      const claimed = (await h.store.claimNextRun('worker-1', 10_000))!;
      expect(claimed.attempts).toBe(i + 1);
      await h.store.requeueRun('r1');
    }
    await claimedRun().execute();
    expect(h.engine.calls).toHaveLength(0);
    expect(await types()).toEqual(['run.failed']);
    expect(await h.store.getRun('r1')).toMatchObject({
      status: 'failed',
      attempts: 3,
      error: {
        code: 'max_attempts_exceeded',
        message: 'the run was started 2 times without finishing (limit 2)',
      },
    });
    expect((await h.store.getSession('s1'))?.status).toBe('idle');
  });
});
