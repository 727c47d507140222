// Workflows through the HTTP API on an in-process server (MAX_CONCURRENT_RUNS=1, so ordering is
// observable): priority/FIFO, idempotency, cancel, timeout, result from git, signed callbacks.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryNonceStore, verifyCallback } from '../../src/client/verify-callback.ts';
import { createBugfixRepo, type MockLlm } from '../../src/mock-llm/index.ts';
import { closeMockedServer } from '../helpers/mock-server.ts';
import { json, type TestServer, tempDir, waitFor } from '../helpers/server.ts';
import { sleep } from '../helpers/sleep.ts';
import {
  type Api,
  events,
  getWf,
  SECRET,
  startReceiver,
  startWorkflowServer,
  type Wf,
  waitTerminal,
} from './helpers.ts';

let mock: MockLlm;
let server: TestServer;
let api: Api;

beforeAll(async () => {
  ({ mock, server, api } = await startWorkflowServer({
    MAX_CONCURRENT_RUNS: '1',
    SIGNING_SECRET: SECRET,
    // the receivers listen on loopback, which callbacks may not reach unless listed
    CALLBACK_ALLOW_HOSTS: '127.0.0.1',
    CALLBACK_RETRY_BASE_MS: '50',
    CALLBACK_RETRY_MAX_MS: '200',
  }));
});
afterAll(() => closeMockedServer(server, mock));

async function submit(body: Record<string, unknown>): Promise<Wf> {
  const res = await api('POST', '/api/workflows', { type: 'custom', ...body });
  expect(res.status, await res.clone().text()).toBe(202);
  return json<Wf>(res);
}

async function running(id: string): Promise<void> {
  await waitFor(async () => (await events(api, id)).some((e) => e.type === 'tool.started'), 15_000);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('workflows API', () => {
  it('runs higher priority first, FIFO within a priority (start order from startedAt)', async () => {
    const first = await submit({ instructions: '[[script:sleep2]] first', priority: 'low' });
    await running(first.id);
    const low1 = await submit({ instructions: 'low 1', priority: 'low' });
    const low2 = await submit({ instructions: 'low 2', priority: 'low' });
    const high1 = await submit({ instructions: 'high 1', priority: 'high' });
    const med = await submit({ instructions: 'medium', priority: 'medium' });
    const high2 = await submit({ instructions: 'high 2', priority: 'high' });
    const all = [first, low1, low2, high1, med, high2];
    const done = await Promise.all(all.map((w) => waitTerminal(api, w.id)));
    for (const w of done) expect(w.status).toBe('completed');
    const order = [...done]
      .sort((a, b) => Date.parse(a.startedAt!) - Date.parse(b.startedAt!) || 0)
      .map((w) => w.id);
    expect(order).toEqual([first.id, high1.id, high2.id, med.id, low1.id, low2.id]);
    // startedAt values are distinct (runs are sequential), so the sort is not decided by ties
    expect(new Set(done.map((w) => w.startedAt)).size).toBe(6);
  });

  it('idempotencyKey: same key → 200 with the same workflow; another key → a new one; concurrent duplicates → one', async () => {
    const a = await api('POST', '/api/workflows', {
      type: 'analysis',
      instructions: 'idem',
      idempotencyKey: 'key-1',
    });
    expect(a.status).toBe(202);
    const wa = await json<Wf>(a);
    const b = await api('POST', '/api/workflows', {
      type: 'analysis',
      instructions: 'idem',
      idempotencyKey: 'key-1',
    });
    expect(b.status).toBe(200);
    const wb = await json<Wf>(b);
    expect(wb.id).toBe(wa.id);
    const c = await json<Wf>(
      await api('POST', '/api/workflows', {
        type: 'analysis',
        instructions: 'idem',
        idempotencyKey: 'key-2',
      }),
    );
    expect(c.id).not.toBe(wa.id);

    const many = await Promise.all(
      Array.from({ length: 10 }, () =>
        api('POST', '/api/workflows', {
          type: 'analysis',
          instructions: 'burst',
          idempotencyKey: 'key-burst',
        }),
      ),
    );
    const statuses = many.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 202]);
    const bodies = await Promise.all(many.map((r) => json<Wf>(r)));
    expect(new Set(bodies.map((w) => w.id)).size).toBe(1);
    const list = await json<{ items: Wf[] }>(await api('GET', '/api/workflows?type=analysis&limit=100'));
    expect(list.items.filter((w) => w.id === bodies[0]!.id)).toHaveLength(1);
    expect(list.items).toHaveLength(3);
    for (const w of [wa, c, bodies[0]!]) expect((await waitTerminal(api, w.id)).status).toBe('completed');
    // the same body again (terminal now)
    const again = await api('POST', '/api/workflows', {
      type: 'analysis',
      instructions: 'idem',
      idempotencyKey: 'key-1',
    });
    expect(again.status).toBe(200);
    expect(await json<Wf>(again)).toEqual(await getWf(api, wa.id));
  });

  it('cancel: pending → cancelled at once (never started, callback sent); running → cancelled, tool process gone; terminal → 409', async () => {
    const receiver = await startReceiver();
    try {
      const blocker = await submit({
        instructions: '[[script:sleep30]] blocker',
        callbackUrl: `${receiver.url}/cb`,
      });
      await running(blocker.id);
      const pending = await submit({ instructions: 'never runs', callbackUrl: `${receiver.url}/cb?x=1` });
      const c1 = await api('POST', `/api/workflows/${pending.id}/cancel`);
      expect(c1.status).toBe(202);
      expect((await json<Wf>(c1)).status).toBe('cancelled');
      const evs = await events(api, pending.id);
      expect(evs.map((e) => e.type)).not.toContain('run.started');
      expect(evs.map((e) => e.type)).toContain('run.cancelled');
      expect(evs.filter((e) => e.type === 'workflow.status').map((e) => e.data.status)).toEqual([
        'pending',
        'cancelled',
      ]);
      const p = await getWf(api, pending.id);
      expect(p.startedAt).toBeUndefined();
      expect(p.attempts).toBe(0);
      await waitFor(async () => receiver.accepted().get(pending.id) === 1, 10_000);
      const d = receiver.deliveries.find((x) => x.body.includes(pending.id))!;
      expect(JSON.parse(d.body)).toMatchObject({ id: pending.id, status: 'cancelled' });
      expect(d.url).toBe('/cb?x=1');

      // running
      const pid = Number(
        (await readFile(path.join(server.dataDir, 'workspaces', blocker.id, 'pid.txt'), 'utf8')).trim(),
      );
      expect(alive(pid)).toBe(true);
      const c2 = await api('POST', `/api/workflows/${blocker.id}/cancel`);
      expect(c2.status).toBe(202);
      const done = await waitTerminal(api, blocker.id, 10_000);
      expect(done.status).toBe('cancelled');
      expect(done.attempts).toBe(1);
      await waitFor(async () => !alive(pid), 5_000);
      const bevs = await events(api, blocker.id);
      expect(bevs.filter((e) => e.type === 'run.cancelled')).toHaveLength(1);
      await waitFor(async () => receiver.accepted().get(blocker.id) === 1, 10_000);

      // terminal
      const c3 = await api('POST', `/api/workflows/${blocker.id}/cancel`);
      expect(c3.status).toBe(409);
      expect((await json<{ error: { code: string } }>(c3)).error.code).toBe('conflict');
      const c4 = await api('POST', '/api/workflows/wf_nope/cancel');
      expect(c4.status).toBe(404);
    } finally {
      await receiver.close();
    }
  });

  it('timeoutMs: a run past its deadline is stopped and fails with code timeout', async () => {
    const w = await submit({ instructions: '[[script:sleep30]] slow', timeoutMs: 1500 });
    const t0 = Date.now();
    const done = await waitTerminal(api, w.id, 15_000);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('timeout');
    expect(Date.now() - t0).toBeLessThan(10_000);
    const evs = await events(api, w.id);
    expect(evs.filter((e) => e.type === 'run.failed')).toHaveLength(1);
  });

  it('result of a refactor on the bugfix fixture: summary, changedFiles and commits from git, usage', async () => {
    const { bareRepo } = await createBugfixRepo(await tempDir('wf-fixture-'));
    const w = await submit({
      type: 'refactor',
      instructions: '[[script:bugfix]] The tests fail. Fix the bug.',
      repoUrl: bareRepo,
    });
    const done = await waitTerminal(api, w.id, 30_000);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result?.summary).toBe('Fixed the bug in add(), tests pass, and the fix is pushed.');
    expect(done.result?.changedFiles).toEqual(['math.js']);
    expect(done.result?.commits).toHaveLength(1);
    expect(done.result?.commits?.[0]).toMatchObject({ message: 'Fix add() to return the sum' });
    expect(done.result?.commits?.[0]?.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(done.usage.inputTokens).toBeGreaterThan(0);
    expect(done.usage.outputTokens).toBeGreaterThan(0);
    expect(done.attempts).toBe(1);
  });

  it('callback: retried with backoff until a 2xx, delivered once, signed', async () => {
    const receiver = await startReceiver((_d, n) => (n < 3 ? 500 : 200));
    try {
      const w = await submit({
        instructions: 'callback please',
        callbackUrl: `${receiver.url}/hooks/wf?tenant=a`,
      });
      await waitTerminal(api, w.id);
      const got = await waitFor(async () => {
        const x = await getWf(api, w.id);
        return x.callback?.status === 'delivered' ? x : undefined;
      }, 15_000);
      expect(got.callback).toMatchObject({ status: 'delivered', attempts: 4 });
      await sleep(400); // nothing more arrives
      expect(receiver.deliveries.map((d) => d.status)).toEqual([500, 500, 500, 200]);
      expect(receiver.accepted().get(w.id)).toBe(1);
      const ok = receiver.deliveries[3]!;
      const body = JSON.parse(ok.body) as Wf;
      expect(body).toMatchObject({ id: w.id, status: 'completed' });
      expect(body.result?.summary).toBe('done');
      const nonces = new MemoryNonceStore();
      const v = await verifyCallback({
        secret: SECRET,
        method: 'POST',
        url: ok.url,
        headers: ok.headers,
        rawBody: ok.body,
        nonces,
      });
      expect(v).toEqual({ ok: true, deliveryId: `cb_${w.id}` });
      // a replay of the same request is refused; a tampered body or wrong secret fails
      expect(
        await verifyCallback({
          secret: SECRET,
          method: 'POST',
          url: ok.url,
          headers: ok.headers,
          rawBody: ok.body,
          nonces,
        }),
      ).toEqual({ ok: false, reason: 'replay' });
      expect(
        (
          await verifyCallback({
            secret: SECRET,
            method: 'POST',
            url: ok.url,
            headers: ok.headers,
            rawBody: `${ok.body} `,
          })
        ).ok,
      ).toBe(false);
      expect(
        (
          await verifyCallback({
            secret: 'other',
            method: 'POST',
            url: ok.url,
            headers: ok.headers,
            rawBody: ok.body,
          })
        ).ok,
      ).toBe(false);
    } finally {
      await receiver.close();
    }
  });

  it('rejects non-http callback URLs and needs auth', async () => {
    const bad = await api('POST', '/api/workflows', {
      type: 'custom',
      instructions: 'x',
      callbackUrl: 'ftp://example.com/x',
    });
    expect(bad.status).toBe(400);
    const noAuth = await fetch(`${server.url}/api/workflows`);
    expect(noAuth.status).toBe(401);
  });
});
