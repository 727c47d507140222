// Live events across instances: two servers on one real PostgreSQL and one real redis-server.
// A WebSocket subscriber on instance A follows a run executed by instance B, live, in order,
// gap-free and exactly once; a Redis outage mid-stream is healed from the store; a session's
// next run on another instance re-creates its workspace.
// Without redis-server or PostgreSQL this file FAILS — SKIP_REDIS_TESTS=1 / SKIP_PG_TESTS=1 skip it.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBugfixRepo, type MockLlm, startMockLlm } from '../../src/mock-llm/index.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { Event } from '../../src/protocol/index.ts';
import { RedisBroadcaster } from '../../src/runs/redis-broadcaster.ts';
import { ping, skipRedisTests } from '../helpers/redis.ts';
import { json, type TestServer, tempDir, waitFor } from '../helpers/server.ts';
import { sleep } from '../helpers/sleep.ts';
import { WsClient } from '../helpers/ws-client.ts';
import {
  API_KEY,
  authed,
  clusterResponder,
  type Ev,
  freshDatabase,
  gapFree,
  type Infra,
  sessionEvents,
  startInfra,
  startInstance,
  stopClaiming,
} from './helpers.ts';

const skip = skipRedisTests || process.env.SKIP_PG_TESTS === '1';

describe.skipIf(skip)('multi-instance live events (PostgreSQL + Redis)', () => {
  let infra: Infra;
  let mock: MockLlm;
  let bareRepo: string;
  const servers: TestServer[] = [];
  const sockets: WsClient[] = [];

  beforeAll(async () => {
    infra = await startInfra();
    mock = await startMockLlm({ responder: clusterResponder() });
    ({ bareRepo } = await createBugfixRepo(await tempDir('fixture-')));
  });
  afterEach(async () => {
    for (const ws of sockets.splice(0)) await ws.close();
    // restore Redis if a test left it down
    if (infra?.redis.controllable && !(await ping(infra.redis.port))) await infra.redis.start();
    for (const s of servers.splice(0).reverse()) await s.close();
  });
  afterAll(async () => {
    await mock?.close();
    await infra?.close();
  });

  async function cluster(names: string[]): Promise<{ nodes: TestServer[]; databaseUrl: string }> {
    const databaseUrl = await freshDatabase(infra.pg.url);
    const nodes: TestServer[] = [];
    for (const name of names) {
      const s = await startInstance(name, { databaseUrl, redisUrl: infra.redis.url, llmUrl: mock.url });
      servers.push(s);
      nodes.push(s);
    }
    return { nodes, databaseUrl };
  }

  async function subscribe(s: TestServer, sessionId: string): Promise<WsClient> {
    const ws = await WsClient.connect(`${s.wsUrl}/ws`, { Authorization: `Bearer ${API_KEY}` });
    sockets.push(ws);
    ws.send({ type: 'subscribe', sessionId, after: 0 });
    await ws.waitFor((f) => f.some((x) => x.type === 'subscribed'));
    return ws;
  }

  const done =
    (ws: WsClient, sessionId: string, n = 1) =>
    () =>
      ws.events(sessionId).filter((e) => ['run.completed', 'run.failed', 'run.cancelled'].includes(e.type))
        .length >= n;

  it('two broadcasters: one message per flush, delivered to the other instance only', async () => {
    const logger = silentLogger;
    const x = new RedisBroadcaster({ url: infra.redis.url, logger, instanceId: 'x' });
    const y = new RedisBroadcaster({ url: infra.redis.url, logger, instanceId: 'y' });
    try {
      expect(await x.ready()).toBe(true);
      expect(await y.ready()).toBe(true);
      const atX: Event[][] = [];
      const atY: Event[][] = [];
      x.onRemote((evs) => atX.push(evs));
      y.onRemote((evs) => atY.push(evs));
      const ev = (seq: number, sessionId = 's1'): Event => ({
        seq,
        sessionId,
        type: 'text.delta',
        ts: new Date().toISOString(),
        data: { text: `t${seq}` },
      });
      x.publish([ev(1), ev(2), ev(1, 's2')]);
      x.publish([ev(3)]);
      await waitFor(async () => atY.length === 2, 5_000, 10);
      expect(atY.map((b) => b.map((e) => `${e.sessionId}:${e.seq}`))).toEqual([
        ['s1:1', 's1:2', 's2:1'],
        ['s1:3'],
      ]);
      await sleep(100);
      expect(atX).toEqual([]); // its own messages are ignored
      expect(x.stats.published).toBe(4);
    } finally {
      await x.close();
      await y.close();
    }
  });

  it('broadcasters survive a Redis restart: failed publishes re-sent, resync requested, one warning per outage', async (ctx) => {
    if (!infra.redis.controllable) return ctx.skip(); // REDIS_TEST_URL: no outage control
    const lines: Array<{ level: string; msg: string }> = [];
    const capture =
      (level: string): ((msg: string) => void) =>
      (msg) =>
        lines.push({ level, msg });
    const logger = {
      debug: capture('debug'),
      info: capture('info'),
      warn: capture('warn'),
      error: capture('error'),
      child: () => logger,
    };
    const x = new RedisBroadcaster({ url: infra.redis.url, logger, instanceId: 'x', maxRetryDelayMs: 200 });
    const y = new RedisBroadcaster({
      url: infra.redis.url,
      logger: silentLogger,
      instanceId: 'y',
      maxRetryDelayMs: 200,
    });
    try {
      expect(await x.ready()).toBe(true);
      expect(await y.ready()).toBe(true);
      const atY: string[] = [];
      y.onRemote((evs) => atY.push(...evs.map((e) => `${e.sessionId}:${e.seq}`)));
      const ev = (seq: number): Event => ({
        seq,
        sessionId: 's1',
        type: 'run.completed',
        ts: new Date().toISOString(),
        data: { stopReason: 'end_turn', usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 } },
      });
      x.publish([ev(1)]);
      await waitFor(async () => atY.includes('s1:1'), 5_000, 10);

      // Redis restarts while x publishes: the publish fails, x re-publishes its latest event afterwards
      await infra.redis.stop();
      await waitFor(async () => !x.status().publisher, 5_000, 10);
      x.publish([ev(2)]);
      await sleep(600); // several failed reconnect attempts
      await infra.redis.start();
      await waitFor(async () => atY.includes('s1:2'), 10_000, 20);
      expect(x.stats.publishFailures).toBeGreaterThan(0);
      const warns = lines.filter((l) => l.level === 'warn');
      // one per connection (lost) + one for the failed publish, not one per reconnect attempt
      expect(warns.length).toBeLessThanOrEqual(3);
      expect(warns.some((l) => l.msg.includes('publish failed'))).toBe(true);
      expect(lines.some((l) => l.level === 'info' && l.msg.includes('restored'))).toBe(true);
      // both subscriptions were re-established; the later one's resync request reached the other
      await waitFor(async () => x.stats.resyncRequests + y.stats.resyncRequests > 0, 5_000, 20);
    } finally {
      await x.close();
      await y.close();
    }
  });

  it('(a) a WS client on A receives the events of a run executed by B live, in order, gap-free, exactly once', async () => {
    const {
      nodes: [a, b],
    } = await cluster(['inst-a', 'inst-b']);
    await stopClaiming(a!); // the run must execute on B
    const apiA = authed(a!.url);
    const apiB = authed(b!.url);
    const session = await json<{ id: string }>(
      await apiA('POST', '/api/sessions', { title: 'cross-instance' }),
    );
    const ws = await subscribe(a!, session.id);

    const sent = await apiB('POST', `/api/sessions/${session.id}/messages`, {
      content: '[[script:live]] go',
    });
    expect(sent.status).toBe(202);
    const { runId } = await json<{ runId: string }>(sent);

    // Live: the tool's first output reaches A while B is still running the 1 s command.
    await ws.waitFor(() => ws.events(session.id).some((e) => e.type === 'tool.started'), 20_000);
    const mid = await json<{ status: string }>(await apiA('GET', `/api/sessions/${session.id}`));
    expect(mid.status).toBe('running');
    expect(ws.events(session.id).some((e) => e.type === 'run.completed')).toBe(false);

    await ws.waitFor(done(ws, session.id), 30_000);
    const got = ws.events(session.id) as Ev[];
    expect(got.find((e) => e.type === 'run.failed')?.data).toBeUndefined();
    expect(gapFree(got)).toBe(true);
    const stored = await sessionEvents(apiB, session.id);
    expect(got.map((e) => `${e.seq}:${e.type}`)).toEqual(stored.map((e) => `${e.seq}:${e.type}`));
    const types = got.map((e) => e.type);
    expect(types[0]).toBe('message.user');
    expect(types).toContain('run.started');
    expect(types).toContain('tool.output');
    expect(types.filter((t) => t === 'text.delta').length).toBeGreaterThan(1);
    expect(types.at(-1)).toBe('run.completed');
    // no duplicate frames arrive afterwards
    await sleep(300);
    expect(ws.events(session.id)).toHaveLength(got.length);

    // B ran it; A saw it through Redis
    const run = await a!.runtime.store.getRun(runId);
    expect(run?.workerId).toBe(b!.runtime.scheduler.workerId);
    expect(a!.runtime.scheduler.activeCount).toBe(0);
  });

  it("(workspaces) a session's next run on another instance re-clones its repository and says so", async () => {
    const {
      nodes: [a, b],
      databaseUrl,
    } = await cluster(['ws-a', 'ws-b']);
    await stopClaiming(a!);
    const apiA = authed(a!.url);
    const session = await json<{ id: string }>(
      await apiA('POST', '/api/sessions', { repoUrl: bareRepo, title: 'affinity' }),
    );
    const ws = await subscribe(a!, session.id);

    // turn 1 on B: clones, leaves an uncommitted file
    await apiA('POST', `/api/sessions/${session.id}/messages`, { content: '[[script:dirty]] write' });
    await ws.waitFor(done(ws, session.id, 1), 30_000);
    expect(existsSync(path.join(b!.dataDir, 'workspaces', session.id, 'uncommitted.txt'))).toBe(true);
    expect(ws.events(session.id).filter((e) => e.type === 'session.notice')).toEqual([]);

    // B leaves; C (empty DATA_DIR) takes turn 2
    await b!.close();
    servers.splice(servers.indexOf(b!), 1);
    const c = await startInstance('ws-c', { databaseUrl, redisUrl: infra.redis.url, llmUrl: mock.url });
    servers.push(c);
    await apiA('POST', `/api/sessions/${session.id}/messages`, { content: '[[script:inspect]] look' });
    await ws.waitFor(done(ws, session.id, 2), 30_000);
    const evs = ws.events(session.id) as Ev[];
    expect(evs.filter((e) => e.type === 'run.failed')).toEqual([]);
    expect(gapFree(evs)).toBe(true);
    const notices = evs.filter((e) => e.type === 'session.notice');
    expect(notices).toHaveLength(1);
    expect(String(notices[0]!.data.message)).toContain('re-created on this instance (ws-c)');
    const turn2 = evs.slice(evs.findLastIndex((e) => e.type === 'run.started'));
    expect(turn2.some((e) => e.type === 'session.notice')).toBe(true);
    const out = turn2
      .filter((e) => e.type === 'tool.output')
      .map((e) => String(e.data.chunk))
      .join('');
    expect(out).toContain('math.js'); // a real clone
    expect(out).toContain('NO-UNCOMMITTED'); // B's uncommitted file did not travel (documented)

    // the marker of C's clone (in C's server-owned state dir) is the session's current workspace id
    const s = await c.runtime.store.getSession(session.id);
    const marker = readFileSync(path.join(c.dataDir, 'state', session.id, 'workspace-id'), 'utf8').trim();
    expect(s?.engineState.workspaceId).toBe(marker);

    // turn 3 on C again: its copy is current, no re-clone, no notice
    await apiA('POST', `/api/sessions/${session.id}/messages`, { content: '[[script:quick]] again' });
    await ws.waitFor(done(ws, session.id, 3), 30_000);
    expect(ws.events(session.id).filter((e) => e.type === 'session.notice')).toHaveLength(1);
    expect((await c.runtime.store.getSession(session.id))?.engineState.workspaceId).toBe(marker);
  });

  it('(d) Redis down mid-stream: the follower fills the gap from the store when the next event comes', async (ctx) => {
    if (!infra.redis.controllable) return ctx.skip(); // REDIS_TEST_URL: no outage control
    const {
      nodes: [a],
    } = await cluster(['out-a', 'out-b']);
    await stopClaiming(a!);
    const apiA = authed(a!.url);
    const session = await json<{ id: string }>(await apiA('POST', '/api/sessions', { title: 'outage' }));
    const ws = await subscribe(a!, session.id);
    await apiA('POST', `/api/sessions/${session.id}/messages`, { content: '[[script:outage]] go' });
    await ws.waitFor(() => ws.events(session.id).some((e) => e.type === 'tool.output'), 20_000);

    await infra.redis.stop(); // the 2 s command's next output is produced while Redis is away
    const seenAtStop = ws.events(session.id).length;
    // B keeps working and storing; A's subscriber sees none of it while Redis is away
    await waitFor(
      async () => (await sessionEvents(apiA, session.id)).some((e) => e.type === 'tool.completed'),
      10_000,
    );
    expect(ws.events(session.id)).toHaveLength(seenAtStop);
    await infra.redis.start();

    await ws.waitFor(done(ws, session.id), 30_000);
    const got = ws.events(session.id) as Ev[];
    expect(gapFree(got)).toBe(true);
    const stored = await sessionEvents(apiA, session.id);
    expect(got.map((e) => e.seq)).toEqual(stored.map((e) => e.seq));
    expect(got.at(-1)?.type).toBe('run.completed');
    await sleep(300);
    expect(ws.events(session.id)).toHaveLength(got.length);
  });

  it('a run that ends entirely while Redis is down still reaches the subscriber once Redis is back', async (ctx) => {
    if (!infra.redis.controllable) return ctx.skip(); // REDIS_TEST_URL: no outage control
    const {
      nodes: [a, b],
    } = await cluster(['tail-a', 'tail-b']);
    await stopClaiming(a!);
    const apiA = authed(a!.url);
    const session = await json<{ id: string }>(await apiA('POST', '/api/sessions', { title: 'tail' }));
    const ws = await subscribe(a!, session.id);
    await infra.redis.stop();
    await apiA('POST', `/api/sessions/${session.id}/messages`, { content: '[[script:quick]] go' });
    await waitFor(
      async () => (await sessionEvents(apiA, session.id)).some((e) => e.type === 'run.completed'),
      20_000,
    );
    const before = ws.events(session.id).length;
    expect(before).toBeLessThan((await sessionEvents(apiA, session.id)).length); // nothing new can come from B
    await infra.redis.start();
    // B re-publishes the latest event of the session after reconnecting; A's follower fills the gap
    await ws.waitFor(done(ws, session.id), 20_000);
    const got = ws.events(session.id) as Ev[];
    expect(gapFree(got)).toBe(true);
    expect(got.map((e) => e.seq)).toEqual((await sessionEvents(apiA, session.id)).map((e) => e.seq));
    expect(b!.runtime.scheduler.workerId).toBeTruthy();
  });
});
