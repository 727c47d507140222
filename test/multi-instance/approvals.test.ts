// Approvals across instances (docs/api.md §10): a run executing on instance A stops at a tool call
// under `policy.approve`; the person's decision arrives at instance B (another process behind the
// same load balancer). A must act on it — allow runs the call, deny gives the model the denial —
// and a second decision on either instance is refused with 409. Two servers on one real
// PostgreSQL and one real redis-server; B never claims runs, so the run is A's. With Redis down
// the decision still reaches A: a waiting call re-reads its stored record every 2 s.
// Without redis-server or PostgreSQL this file FAILS — SKIP_REDIS_TESTS=1 / SKIP_PG_TESTS=1 skip it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type MockLlm, startMockLlm } from '../../src/mock-llm/index.ts';
import { ping, skipRedisTests } from '../helpers/redis.ts';
import { json, type TestServer, waitFor } from '../helpers/server.ts';
import {
  type Api,
  authed,
  clusterResponder,
  type Ev,
  freshDatabase,
  type Infra,
  sessionEvents,
  startInfra,
  startInstance,
  stopClaiming,
} from './helpers.ts';

const skip = skipRedisTests || process.env.SKIP_PG_TESTS === '1';

type Approval = { approvalId: string; sessionId: string; runId: string; status: string; name: string };

describe.skipIf(skip)('multi-instance approvals (PostgreSQL + Redis)', () => {
  let infra: Infra;
  let mock: MockLlm;
  const servers: TestServer[] = [];
  let a: Api;
  let b: Api;

  beforeAll(async () => {
    infra = await startInfra();
    mock = await startMockLlm({ responder: clusterResponder() });
    const databaseUrl = await freshDatabase(infra.pg.url);
    const runner = await startInstance('apr-a', { databaseUrl, redisUrl: infra.redis.url, llmUrl: mock.url });
    servers.push(runner);
    const other = await startInstance('apr-b', { databaseUrl, redisUrl: infra.redis.url, llmUrl: mock.url });
    servers.push(other);
    await stopClaiming(other);
    a = authed(runner.url);
    b = authed(other.url);
  });
  afterEach(() => {
    mock.requests.length = 0;
  });
  afterAll(async () => {
    for (const s of servers.splice(0).reverse()) await s.close();
    await mock?.close();
    await infra?.close();
  });

  /** A session on A whose message's bash call waits for approval; the pending approval as B lists it. */
  async function waitingOnA(): Promise<{ sessionId: string; approval: Approval }> {
    const s = await json<{ id: string }>(
      await a('POST', '/api/sessions', { policy: { approve: ['shell'] } }),
    );
    expect(
      (await a('POST', `/api/sessions/${s.id}/messages`, { content: '[[script:quick]] go' })).status,
    ).toBe(202);
    const approval = await waitFor(async () => {
      const list = await json<{ items: Approval[] }>(await b('GET', '/api/approvals?status=pending'));
      return list.items.find((x) => x.sessionId === s.id);
    }, 30_000);
    expect(approval.name).toBe('bash');
    const session = await json<{ status: string }>(await b('GET', `/api/sessions/${s.id}`));
    expect(session.status).toBe('waiting');
    return { sessionId: s.id, approval };
  }

  async function finished(sessionId: string): Promise<Ev[]> {
    return waitFor(async () => {
      const evs = await sessionEvents(b, sessionId);
      return evs.some((e) => e.type === 'run.completed' || e.type === 'run.failed') ? evs : undefined;
    }, 30_000);
  }

  it('allowed on B, the call runs on A; a second decision on either instance is 409', async () => {
    const { sessionId, approval } = await waitingOnA();
    const res = await b('POST', `/api/sessions/${sessionId}/approvals/${approval.approvalId}`, {
      decision: 'allow',
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await json(res)).toMatchObject({ approvalId: approval.approvalId, decision: 'allow', by: 'user' });

    const evs = await finished(sessionId);
    expect(evs.filter((e) => e.type === 'approval.resolved').map((e) => e.data)).toEqual([
      { approvalId: approval.approvalId, decision: 'allow', by: 'user' },
    ]);
    const completed = evs.find((e) => e.type === 'tool.completed')?.data;
    expect(completed).toMatchObject({ name: 'bash', isError: false });
    expect(String(completed?.output)).toContain('quick');
    expect(evs.some((e) => e.type === 'run.completed')).toBe(true);

    for (const api of [a, b]) {
      const again = await api('POST', `/api/sessions/${sessionId}/approvals/${approval.approvalId}`, {
        decision: 'deny',
      });
      expect(again.status).toBe(409);
    }
  });

  it('denied on B, the model on A gets the denial and the command never runs', async () => {
    const { sessionId, approval } = await waitingOnA();
    const res = await b('POST', `/api/sessions/${sessionId}/approvals/${approval.approvalId}`, {
      decision: 'deny',
      message: 'not on a Friday',
    });
    expect(res.status, await res.clone().text()).toBe(200);

    const evs = await finished(sessionId);
    expect(evs.some((e) => e.type === 'tool.output')).toBe(false);
    const completed = evs.find((e) => e.type === 'tool.completed')?.data;
    expect(completed).toMatchObject({ name: 'bash', isError: true });
    expect(String(completed?.output)).toContain('not on a Friday');
    // the model's next request carries the denial as the tool result
    const denial = mock.requests.find((r) =>
      JSON.stringify(r.body).includes('denied by the user: not on a Friday'),
    );
    expect(denial).toBeDefined();
  });

  it("with Redis down, A still learns B's decision by re-reading the stored record", async (ctx) => {
    if (!infra.redis.controllable) return ctx.skip(); // REDIS_TEST_URL: no outage control
    const { sessionId, approval } = await waitingOnA();
    await infra.redis.stop();
    try {
      const res = await b('POST', `/api/sessions/${sessionId}/approvals/${approval.approvalId}`, {
        decision: 'allow',
      });
      expect(res.status, await res.clone().text()).toBe(200);
      const evs = await finished(sessionId);
      expect(evs.find((e) => e.type === 'tool.completed')?.data).toMatchObject({
        name: 'bash',
        isError: false,
      });
      expect(evs.some((e) => e.type === 'run.completed')).toBe(true);
    } finally {
      if (!(await ping(infra.redis.port))) await infra.redis.start();
    }
  });
});
