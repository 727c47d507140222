// The shared run queue across instances on one real PostgreSQL (and Redis): workflows submitted to
// both instances run exactly once each, spread over both; an instance killed with SIGKILL mid-run
// (a child process) loses its lease and the other instance re-runs the workflow (attempts 2) in a
// re-created workspace.
// Without redis-server or PostgreSQL this file FAILS — SKIP_REDIS_TESTS=1 / SKIP_PG_TESTS=1 skip it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBugfixRepo, type MockLlm, startMockLlm } from '../../src/mock-llm/index.ts';
import { type ChildServer, startChildServer } from '../helpers/child-server.ts';
import { skipRedisTests } from '../helpers/redis.ts';
import { json, type TestServer, tempDir, waitFor } from '../helpers/server.ts';
import { events, getWf, type Wf, waitTerminal } from '../workflows/helpers.ts';
import {
  type Api,
  authed,
  clusterResponder,
  freshDatabase,
  gapFree,
  type Infra,
  instanceEnv,
  startInfra,
  startInstance,
} from './helpers.ts';

const skip = skipRedisTests || process.env.SKIP_PG_TESTS === '1';

describe.skipIf(skip)('multi-instance run queue (PostgreSQL + Redis)', () => {
  let infra: Infra;
  let mock: MockLlm;
  const servers: TestServer[] = [];
  let child: ChildServer | undefined;

  beforeAll(async () => {
    infra = await startInfra();
    mock = await startMockLlm({ responder: clusterResponder() });
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail' && child) console.error(child.output().slice(-8000));
    await child?.close();
    child = undefined;
    for (const s of servers.splice(0).reverse()) await s.close();
  });
  afterAll(async () => {
    await mock?.close();
    await infra?.close();
  });

  async function submit(api: Api, body: Record<string, unknown>): Promise<Wf> {
    const res = await api('POST', '/api/workflows', { type: 'custom', ...body });
    expect(res.status, await res.clone().text()).toBe(202);
    return json<Wf>(res);
  }

  it('(b) 20 workflows submitted across two instances each complete exactly once, spread over both', async () => {
    const databaseUrl = await freshDatabase(infra.pg.url);
    const a = await startInstance('q-a', { databaseUrl, redisUrl: infra.redis.url, llmUrl: mock.url });
    servers.push(a);
    const b = await startInstance('q-b', { databaseUrl, redisUrl: infra.redis.url, llmUrl: mock.url });
    servers.push(b);
    const apis = [authed(a.url), authed(b.url)];
    const tag = `batch-${Date.now().toString(36)}`;
    const wfs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        submit(apis[i % 2]!, { instructions: `[[script:batch]] <${tag}:${i}>` }),
      ),
    );
    const finals = await Promise.all(wfs.map((w, i) => waitTerminal(apis[(i + 1) % 2]!, w.id, 60_000)));
    expect(finals.map((w) => w.status)).toEqual(wfs.map(() => 'completed'));
    expect(finals.map((w) => w.attempts)).toEqual(wfs.map(() => 1));

    const workers = new Map<string, number>();
    for (const [i, w] of wfs.entries()) {
      const evs = await events(apis[i % 2]!, w.id);
      expect(gapFree(evs)).toBe(true);
      expect(evs.filter((e) => e.type === 'run.started')).toHaveLength(1);
      expect(evs.filter((e) => e.type === 'run.completed')).toHaveLength(1);
      expect(evs.filter((e) => e.type === 'workflow.status' && e.data.status === 'completed')).toHaveLength(
        1,
      );
      // the mock LLM was asked exactly once for this workflow: no double execution
      expect(mock.requests.filter((r) => JSON.stringify(r.body).includes(`<${tag}:${i}>`))).toHaveLength(1);
      const record = await a.runtime.store.getWorkflow(w.id);
      const run = await a.runtime.store.getRun(record!.runId);
      workers.set(run!.workerId!, (workers.get(run!.workerId!) ?? 0) + 1);
    }
    expect([...workers.keys()].sort()).toEqual(
      [a.runtime.scheduler.workerId, b.runtime.scheduler.workerId].sort(),
    );
    expect([...workers.values()].reduce((x, y) => x + y, 0)).toBe(20);
  });

  it('(c) an instance killed mid-run: the other re-queues it after the lease and completes it (attempts 2)', async () => {
    const databaseUrl = await freshDatabase(infra.pg.url);
    const { bareRepo } = await createBugfixRepo(await tempDir('fixture-'));
    const env = instanceEnv('crash-b', { databaseUrl, redisUrl: infra.redis.url, llmUrl: mock.url });
    // B alone first, so B claims the workflow; A starts while B runs it.
    child = await startChildServer({ env: { ...env, LOG_LEVEL: 'warn' } });
    const apiB = authed(child.url);
    const w = await submit(apiB, { instructions: '[[script:sleep3]] survive a crash', repoUrl: bareRepo });
    await waitFor(async () => (await events(apiB, w.id)).some((e) => e.type === 'tool.started'), 20_000);

    const a = await startInstance('crash-a', { databaseUrl, redisUrl: infra.redis.url, llmUrl: mock.url });
    servers.push(a);
    const apiA = authed(a.url);
    expect((await getWf(apiA, w.id)).status).toBe('running');
    const killedAt = Date.now();
    expect(await child.kill('SIGKILL')).toBe(null);

    const done = await waitTerminal(apiA, w.id, 30_000);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.attempts).toBe(2);
    expect(done.result?.summary).toBe('slept 3');
    const evs = await events(apiA, w.id);
    expect(gapFree(evs)).toBe(true);
    expect(evs.filter((e) => e.type === 'run.started').map((e) => e.data.attempt)).toEqual([1, 2]);
    expect(evs.filter((e) => e.type === 'run.completed')).toHaveLength(1);
    expect(evs.filter((e) => e.type === 'workflow.status' && e.data.status === 'completed')).toHaveLength(1);
    expect(evs.filter((e) => e.type === 'run.queued').at(-1)?.data).toMatchObject({
      attempt: 2,
      reason: 'worker_lost',
    });
    const requeued = (evs as Array<{ type: string; ts?: string }>)
      .filter((e) => e.type === 'run.queued')
      .at(-1);
    expect(Date.parse(String(requeued?.ts)) - killedAt).toBeGreaterThan(500); // the lease had to run out first
    // A had no copy of B's workspace: it cloned again and said so
    const notice = evs.find((e) => e.type === 'session.notice');
    expect(String(notice?.data.message)).toContain('re-created on this instance (crash-a)');
    const record = await a.runtime.store.getWorkflow(w.id);
    expect((await a.runtime.store.getRun(record!.runId))?.workerId).toBe(a.runtime.scheduler.workerId);
  });
});
