// Hard budgets at the executor (docs/api.md §10): usage reported while a run streams stops it
// with `budget_exceeded` as soon as a limit is passed (the session's or workflow's policy, the
// server's cap, the credential's daily cap); a limit with nothing left refuses the next run
// before its engine starts. Real SQLite, scripted engine, manual clock.
import { afterEach, describe, expect, it } from 'vitest';
import type { Event, Usage } from '../../src/protocol/index.ts';
import type { StopReason } from '../../src/runs/lifecycle.ts';
import { USAGE } from '../helpers/scripted-engine.ts';
import { until } from '../helpers/sleep.ts';
import { type Harness, makeHarness } from './harness.ts';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const u = (inputTokens: number, outputTokens = 0, costUsd = 0): Usage => ({
  inputTokens,
  outputTokens,
  costUsd,
});

/** Claims the next run and executes it as the scheduler would (stop → abort). */
async function executeNext(): Promise<string> {
  const run = await h.store.claimNextRun('worker-1', 10_000);
  if (!run) throw new Error('nothing to claim');
  const controller = new AbortController();
  let reason: StopReason | undefined;
  const stop = (r: StopReason) => {
    reason ??= r;
    controller.abort(new Error(r));
  };
  await h.executor.execute(run, controller.signal, () => reason, stop);
  return run.id;
}

async function terminal(sessionId: string, runId: string): Promise<Event> {
  const [t] = await h.terminals(sessionId, runId);
  if (!t) throw new Error(`run ${runId} has no terminal event`);
  return t;
}

describe('budgets', () => {
  it('session budget: the run is stopped in the turn that passes it; the next run is refused before it starts', async () => {
    h = await makeHarness();
    await h.session('s1', { policy: { budget: { maxTokens: 100 } } });
    await h.run('r1', 's1');
    h.engine.script('r1', [{ usage: u(60) }, { usage: u(30, 20) }, { usage: u(1) }, { block: true }]);
    await executeNext();
    const t = await terminal('s1', 'r1');
    expect(t.type).toBe('run.failed');
    expect(t.data).toMatchObject({
      error: { code: 'budget_exceeded', usage: { inputTokens: 90, outputTokens: 20, costUsd: 0 } },
    });
    expect(String((t.data as { error: { message: string } }).error.message)).toMatch(
      /session's budget of 100 tokens would be passed: 110 used/,
    );
    expect(h.engine.calls[0]!.end).toBe('threw'); // stopped, not left to finish
    expect(await h.store.getRun('r1')).toMatchObject({ status: 'failed', usage: u(90, 20) });
    expect((await h.store.getSession('s1'))!.usage).toEqual(u(90, 20));

    await h.run('r2', 's1');
    await executeNext();
    expect(h.engine.calls).toHaveLength(1); // r2 never reached the engine
    const t2 = await terminal('s1', 'r2');
    expect(t2.data).toMatchObject({ error: { code: 'budget_exceeded', usage: u(0) } });
    expect((await h.events('s1')).filter((e) => e.runId === 'r2').map((e) => e.type)).toEqual(['run.failed']);
  });

  it('a budget of 0 runs nothing', async () => {
    h = await makeHarness();
    await h.session('zero', { policy: { budget: { maxCostUsd: 0 } } });
    await h.run('r1', 'zero');
    await executeNext();
    expect(h.engine.calls).toHaveLength(0);
    expect((await terminal('zero', 'r1')).data).toMatchObject({ error: { code: 'budget_exceeded' } });
  });

  it("a workflow's budget is named as such; a run that stays within it completes with the larger usage figure", async () => {
    h = await makeHarness();
    await h.session('wf', { workflowId: 'wf', policy: { budget: { maxCostUsd: 0.5 } } });
    await h.run('r1', 'wf');
    h.engine.script('r1', [{ usage: u(100, 100, 0.2) }]); // more than the engine's own USAGE
    await executeNext();
    expect((await terminal('wf', 'r1')).data).toEqual({ stopReason: 'end_turn', usage: u(100, 100, 0.2) });
    await h.run('r2', 'wf');
    h.engine.script('r2', [{ usage: u(1, 1, 0.31) }, { block: true }]);
    await executeNext();
    const t = await terminal('wf', 'r2');
    expect(t.data).toMatchObject({ error: { code: 'budget_exceeded', usage: u(1, 1, 0.31) } });
    expect(String((t.data as { error: { message: string } }).error.message)).toMatch(
      /workflow's budget of \$0\.5000/,
    );
  });

  it("the server's cap applies too, and a policy cannot raise it", async () => {
    h = await makeHarness({ BUDGET_MAX_TOKENS: '50' });
    await h.session('s1', { policy: { budget: { maxTokens: 10_000 } } });
    await h.run('r1', 's1');
    h.engine.script('r1', [{ usage: u(40) }, { usage: u(20) }, { block: true }]);
    await executeNext();
    const t = await terminal('s1', 'r1');
    expect(String((t.data as { error: { message: string } }).error.message)).toMatch(/server's cap/);
    // without a policy the server's cap is the budget
    await h.session('s2');
    await h.run('r2', 's2');
    h.engine.script('r2', [{ usage: u(51) }, { block: true }]);
    await executeNext();
    expect((await terminal('s2', 'r2')).data).toMatchObject({ error: { code: 'budget_exceeded' } });
  });

  it("per-credential daily cap: stops the run that passes it, refuses the key's next run, other keys run; a new UTC day starts afresh", async () => {
    h = await makeHarness({ BUDGET_DAILY_TOKENS_PER_KEY: '100' });
    await h.clock.set(Date.parse('2030-01-01T12:00:00.000Z'));
    for (const s of ['a1', 'a2', 'b1', 'a3']) await h.session(s);
    await h.run('ra1', 'a1', { credential: 'key:a' });
    h.engine.script('ra1', [{ usage: u(70) }, { usage: u(40) }, { block: true }]);
    await executeNext();
    expect((await terminal('a1', 'ra1')).data).toMatchObject({ error: { code: 'budget_exceeded' } });

    await h.run('ra2', 'a2', { credential: 'key:a' }); // another session of the same key
    await executeNext();
    const refused = await terminal('a2', 'ra2');
    expect(refused.data).toMatchObject({ error: { code: 'budget_exceeded' } });
    expect(String((refused.data as { error: { message: string } }).error.message)).toMatch(
      /daily budget .* is spent \(110 used\); the run was not started/,
    );
    expect(h.engine.calls.map((c) => c.ctx.runId)).toEqual(['ra1']);

    await h.run('rb1', 'b1', { credential: 'key:b' });
    await executeNext();
    expect((await terminal('b1', 'rb1')).type).toBe('run.completed');

    await h.clock.set(Date.parse('2030-01-02T00:00:01.000Z'));
    await h.run('ra3', 'a3', { credential: 'key:a' });
    await executeNext();
    expect((await terminal('a3', 'ra3')).type).toBe('run.completed');
  });

  it("the daily cap counts the key's runs still running on this instance", async () => {
    h = await makeHarness({ BUDGET_DAILY_TOKENS_PER_KEY: '100' });
    await h.session('a1');
    await h.session('a2');
    await h.run('first', 'a1', { credential: 'key:a' });
    await h.run('second', 'a2', { credential: 'key:a' });
    h.engine.script('first', [{ usage: u(60) }, { wait: 'first-done' }]);
    h.engine.script('second', [{ usage: u(30) }, { wait: 'second-more' }, { usage: u(30) }, { block: true }]);
    const scheduler = h.scheduler();
    await scheduler.start();
    await h.engine.started('first');
    await h.engine.started('second');
    h.engine.release('second-more'); // 60 (first, live) + 60 (second) > 100
    const [t] = await waitTerminal('a2', 'second');
    expect(t!.data).toMatchObject({ error: { code: 'budget_exceeded', usage: u(60) } });
    h.engine.release('first-done');
    const [f] = await waitTerminal('a1', 'first');
    expect(f!.type).toBe('run.completed'); // the run under the cap finishes
    expect((await h.store.getRun('first'))!.usage).toEqual(u(60));
  });

  it('usage the engine reports only at the end is still recorded (no meter reports)', async () => {
    h = await makeHarness({ BUDGET_MAX_TOKENS: '1000' });
    await h.session('s1');
    await h.run('r1', 's1');
    await executeNext();
    expect((await terminal('s1', 'r1')).data).toEqual({ stopReason: 'end_turn', usage: USAGE });
  });
});

async function waitTerminal(sessionId: string, runId: string): Promise<Event[]> {
  await until(async () => (await h.terminals(sessionId, runId)).length > 0, `the end of ${runId}`);
  return h.terminals(sessionId, runId);
}
