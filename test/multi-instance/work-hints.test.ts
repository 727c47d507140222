// Work hints across instances (src/runs/redis-broadcaster.ts, wired in src/runtime.ts): a run
// queued on an instance with no free slot is claimed at once by another instance with one — not
// at that instance's next poll of the queue. The other instance's scheduler clock stands still
// (ManualClock), so its polling never fires: only the hint can wake it.
// Without redis-server or PostgreSQL this file FAILS — SKIP_REDIS_TESTS=1 / SKIP_PG_TESTS=1 skip it.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type MockLlm, startMockLlm } from '../../src/mock-llm/index.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { RedisBroadcaster } from '../../src/runs/redis-broadcaster.ts';
import { ManualClock } from '../helpers/clock.ts';
import { skipRedisTests } from '../helpers/redis.ts';
import { json, startTestServer, type TestServer, waitFor } from '../helpers/server.ts';
import { getWf, type Wf, waitTerminal } from '../workflows/helpers.ts';
import {
  type Api,
  authed,
  clusterResponder,
  freshDatabase,
  type Infra,
  instanceEnv,
  startInfra,
} from './helpers.ts';

const skip = skipRedisTests || process.env.SKIP_PG_TESTS === '1';

describe.skipIf(skip)('multi-instance work hints (PostgreSQL + Redis)', () => {
  let infra: Infra;
  let mock: MockLlm;
  let probe: RedisBroadcaster;
  let hints = 0;
  const servers: TestServer[] = [];
  const broadcasters: RedisBroadcaster[] = [];

  beforeAll(async () => {
    infra = await startInfra();
    mock = await startMockLlm({ responder: clusterResponder() });
    // a listener on the channel that counts the hints every instance sends
    probe = new RedisBroadcaster({ url: infra.redis.url, logger: silentLogger, instanceId: 'probe' });
    broadcasters.push(probe);
    probe.onWork(() => {
      hints += 1;
    });
    expect(await probe.ready(10_000)).toBe(true);
  });
  afterEach(async () => {
    for (const s of servers.splice(0).reverse()) await s.close();
  });
  afterAll(async () => {
    for (const b of broadcasters) await b.close();
    await mock?.close();
    await infra?.close();
  });

  async function submit(api: Api, instructions: string): Promise<Wf> {
    const res = await api('POST', '/api/workflows', { type: 'custom', instructions });
    expect(res.status, await res.clone().text()).toBe(202);
    return json<Wf>(res);
  }

  async function workerOf(databaseUrl: string, workflowId: string): Promise<string> {
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const r = await db.query<{ worker_id: string }>('SELECT worker_id FROM runs WHERE workflow_id = $1', [
        workflowId,
      ]);
      expect(r.rows).toHaveLength(1);
      return r.rows[0]!.worker_id;
    } finally {
      await db.end();
    }
  }

  it('a workflow queued on a full instance is started by another instance whose queue polling stands still', async () => {
    const databaseUrl = await freshDatabase(infra.pg.url);
    const o = { databaseUrl, redisUrl: infra.redis.url, llmUrl: mock.url };
    const a = await startTestServer({ ...instanceEnv('hint-a', o), MAX_CONCURRENT_RUNS: '1' });
    servers.push(a);
    const apiA = authed(a.url);
    // A's only slot: a run sleeping 30 s
    const holder = await submit(apiA, '[[script:sleep30]] hold the slot');
    await waitFor(
      async () => ((await getWf(apiA, holder.id)).status === 'running' ? true : undefined),
      20_000,
    );

    const b = await startTestServer(instanceEnv('hint-b', o), { schedulerClock: new ManualClock() });
    servers.push(b);
    const before = hints;
    const w = await submit(apiA, 'a quick one while A is full');
    const done = await waitTerminal(apiA, w.id, 20_000);
    expect(done.status).toBe('completed');
    expect(done.attempts).toBe(1);
    expect(await workerOf(databaseUrl, w.id)).toMatch(/^hint-b-/);
    expect(hints).toBeGreaterThan(before);

    const cancel = await apiA('POST', `/api/workflows/${holder.id}/cancel`);
    expect(cancel.status).toBe(202);
    expect((await waitTerminal(apiA, holder.id, 20_000)).status).toBe('cancelled');
  });

  it('an instance with a free slot starts its own runs and sends no hint', async () => {
    const databaseUrl = await freshDatabase(infra.pg.url);
    const o = { databaseUrl, redisUrl: infra.redis.url, llmUrl: mock.url };
    const a = await startTestServer(instanceEnv('free-a', o), { schedulerClock: new ManualClock() });
    servers.push(a);
    const apiA = authed(a.url);
    const before = hints;
    const wfs = await Promise.all([1, 2, 3].map((i) => submit(apiA, `free slot ${i}`)));
    for (const w of wfs) expect((await waitTerminal(apiA, w.id, 20_000)).status).toBe('completed');
    for (const w of wfs) expect(await workerOf(databaseUrl, w.id)).toMatch(/^free-a-/);
    expect(hints).toBe(before);
  });

  it('a burst of announcements is coalesced: one hint at once, one more at the end of the interval', async () => {
    const sender = new RedisBroadcaster({ url: infra.redis.url, logger: silentLogger, instanceId: 'burst' });
    broadcasters.push(sender);
    expect(await sender.ready(10_000)).toBe(true);
    await waitFor(async () => (sender.status().publisher ? true : undefined), 10_000);
    const before = hints;
    for (let i = 0; i < 100; i++) sender.announceWork();
    await waitFor(async () => (hints >= before + 2 ? true : undefined), 10_000, 10);
    expect(sender.stats.workHintsSent).toBe(2);
    // a later announcement goes out too (at once, or at the end of the current interval)
    sender.announceWork();
    await waitFor(async () => (hints >= before + 3 ? true : undefined), 10_000, 10);
    expect(sender.stats.workHintsSent).toBe(3);
  });
});
