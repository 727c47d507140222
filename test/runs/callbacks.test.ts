// CallbackDispatcher at its own API: a queued callback is POSTed, signed, to a real receiver on
// loopback, retried on the backoff schedule — attempt n+1 exactly backoffMs(n) after attempt n,
// by the clock — until a 2xx, or given up once CALLBACK_MAX_AGE_MS has passed; a workflow's
// callback is sent once at a time and delivered once, however often the dispatcher is kicked.
// The clock and the jitter are injected (random = 0.5 makes the jitter factor exactly 1), so the
// schedule is asserted to the millisecond without waiting for it. Real SQLite outbox.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseHostAllowList } from '../../src/net/allow-hosts.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { backoffMs, CallbackDispatcher, type CallbackOptions } from '../../src/runs/callbacks.ts';
import { NONCE_RE, verifyCallbackSignature, verifySignature } from '../../src/security/signing.ts';
import type { OutboxRecord } from '../../src/store/types.ts';
import { until } from '../helpers/sleep.ts';
import { newRun, newSession, newWorkflow } from '../store/fixtures/records.ts';
import { type Harness, makeHarness } from './harness.ts';

const SECRET = 'callback-test-secret';
const BASE = 1_000;
const POLL = 1_000;
const MAX_AGE = 10_000;

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A callback receiver on loopback: answers each POST with the next scripted status (default 200). */
async function startReceiver() {
  const received: Received[] = [];
  const statuses: number[] = [];
  let hold: Promise<void> | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      const status = statuses.shift() ?? 200;
      await hold;
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    /** The statuses of the next responses, in order. */
    answer: (...s: number[]) => statuses.push(...s),
    /** Holds every response until the returned function is called. */
    holdResponses() {
      let release = () => {};
      hold = new Promise<void>((r) => {
        release = r;
      });
      return () => {
        hold = undefined;
        release();
      };
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let h: Harness;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let dispatcher: CallbackDispatcher | undefined;
beforeEach(async () => {
  h = await makeHarness({
    CALLBACK_ALLOW_HOSTS: '127.0.0.1', // the receiver is on loopback
    SIGNING_SECRET: SECRET,
    CALLBACK_MAX_AGE_MS: String(MAX_AGE),
  });
  receiver = await startReceiver();
});
afterEach(async () => {
  dispatcher?.stop();
  dispatcher = undefined;
  await receiver.close();
  await h.close();
});

function startDispatcher(options: Partial<CallbackOptions> = {}, config = h.config): CallbackDispatcher {
  dispatcher = new CallbackDispatcher({
    store: h.store,
    config,
    logger: silentLogger,
    metrics: createMetrics(),
    options: {
      baseDelayMs: BASE,
      maxDelayMs: 60_000,
      requestTimeoutMs: 5_000,
      pollMs: POLL,
      clock: h.clock,
      random: () => 0.5,
      ...options,
    },
  });
  dispatcher.start();
  return dispatcher;
}

/** Queues the callback of workflow `wf` (as WorkflowService.queueCallback does), due now. */
async function enqueue(wf: string, url = `${receiver.url}/hook?from=test`): Promise<OutboxRecord> {
  const now = new Date(h.clock.now()).toISOString();
  const o: OutboxRecord = {
    id: `cb_${wf}`,
    workflowId: wf,
    url,
    body: JSON.stringify({ id: wf, status: 'completed' }),
    status: 'pending',
    attempts: 0,
    nextAttemptAt: now,
    createdAt: now,
  };
  await h.store.enqueueOutbox(o);
  return o;
}

const outbox = async (wf: string) => (await h.store.getOutboxForWorkflow(wf))!;
const iso = (ms: number) => new Date(ms).toISOString();

/** Moves the clock to `at` and waits for attempt `n` to be recorded (not earlier: see `notBefore`). */
async function attemptAt(wf: string, n: number, at: number): Promise<void> {
  await h.clock.set(at - 1);
  expect((await outbox(wf)).attempts, `attempt ${n} made before it was due`).toBe(n - 1);
  await h.clock.set(at);
  await until(async () => (await outbox(wf)).attempts === n, `attempt ${n}`);
}

describe('backoffMs', () => {
  it('doubles from the base delay, is capped, and jitters by ±50%', () => {
    const o = { baseDelayMs: 1_000, maxDelayMs: 30_000 };
    const exact = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffMs(n, o, exact))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
    expect(backoffMs(0, o, exact)).toBe(1_000); // no failure yet counts as the first
    expect(backoffMs(3, o, () => 0)).toBe(2_000); // the least jitter: half
    expect(backoffMs(3, o, () => 0.999_999)).toBe(6_000); // the most: one and a half
    expect(backoffMs(40, o, () => 0.999_999)).toBe(45_000); // the cap is applied before the jitter
  });
});

describe('CallbackDispatcher', () => {
  it('retries on the backoff schedule until a 2xx, then stops', async () => {
    const t0 = h.clock.now();
    await enqueue('wf1');
    receiver.answer(500, 503, 200);
    startDispatcher();
    await until(async () => (await outbox('wf1')).attempts === 1, 'first attempt');
    expect(await outbox('wf1')).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastError: 'HTTP 500',
      nextAttemptAt: iso(t0 + 1_000),
    });
    await attemptAt('wf1', 2, t0 + 1_000);
    expect(await outbox('wf1')).toMatchObject({ lastError: 'HTTP 503', nextAttemptAt: iso(t0 + 3_000) });
    await attemptAt('wf1', 3, t0 + 3_000);
    const done = await outbox('wf1');
    expect(done).toMatchObject({ status: 'delivered', attempts: 3, deliveredAt: iso(t0 + 3_000) });
    expect(done.lastError).toBeUndefined();

    await h.clock.advance(60_000);
    expect(receiver.received).toHaveLength(3);
    // The same delivery each time: one id for the receiver to dedupe on, the attempt number, the body.
    expect(receiver.received.map((r) => r.headers['x-delivery-id'])).toEqual(['cb_wf1', 'cb_wf1', 'cb_wf1']);
    expect(receiver.received.map((r) => r.headers['x-delivery-attempt'])).toEqual(['1', '2', '3']);
    expect(new Set(receiver.received.map((r) => r.body))).toEqual(
      new Set([JSON.stringify({ id: 'wf1', status: 'completed' })]),
    );
    expect(receiver.received.every((r) => r.path === '/hook?from=test')).toBe(true);
  });

  it('a short backoff does not wait for the next poll', async () => {
    const t0 = h.clock.now();
    await enqueue('wf1');
    receiver.answer(500);
    startDispatcher({ baseDelayMs: 100, pollMs: 60_000 });
    await until(async () => (await outbox('wf1')).attempts === 1, 'first attempt');
    await attemptAt('wf1', 2, t0 + 105); // the retry timer: the delay + 5 ms
    expect((await outbox('wf1')).status).toBe('delivered');
  });

  it('gives up once CALLBACK_MAX_AGE_MS has passed since the callback was queued', async () => {
    const t0 = h.clock.now();
    await enqueue('wf1');
    receiver.answer(...Array<number>(20).fill(503));
    startDispatcher();
    await until(async () => (await outbox('wf1')).attempts === 1, 'first attempt');
    // 1 s, 2 s, 4 s, 8 s apart: the fifth attempt (15 s) is past the 10 s age, and the last.
    await attemptAt('wf1', 2, t0 + 1_000);
    await attemptAt('wf1', 3, t0 + 3_000);
    await attemptAt('wf1', 4, t0 + 7_000);
    expect((await outbox('wf1')).status).toBe('pending');
    await attemptAt('wf1', 5, t0 + 15_000);
    expect(await outbox('wf1')).toMatchObject({ status: 'failed', attempts: 5, lastError: 'HTTP 503' });
    await h.clock.advance(60_000);
    expect(receiver.received).toHaveLength(5);
  });

  it('notifications go out one at a time in seq order with X-Callback-Kind event, and the result waits for them', async () => {
    // A workflow that notifies its approvals, and two of its events stored (each with its notification).
    await h.store.createWorkflow(
      {
        ...newWorkflow('wf1', {
          callbackUrl: `${receiver.url}/hook`,
          notify: ['run.queued', 'session.notice'],
        }),
      },
      newSession('ses_wf1', { workflowId: 'wf1' }),
      newRun('run_wf1', 'ses_wf1', { workflowId: 'wf1' }),
      [{ runId: 'run_wf1', type: 'run.queued', data: { attempt: 1 } }],
    );
    await h.store.appendEvents('ses_wf1', [{ type: 'session.notice', data: { message: 'hello' } }]);
    await enqueue('wf1'); // the terminal result, due as early as the notifications
    const t0 = h.clock.now();
    receiver.answer(500, 200, 200, 200); // the first notification fails once
    startDispatcher();
    const first = async () => (await h.store.listOutboxForWorkflow('wf1'))[0]!;
    await until(async () => (await first()).attempts === 1, 'the first notification, failed');
    expect((await first()).nextAttemptAt).toBe(iso(t0 + BASE));
    await h.clock.advance(BASE / 2);
    expect(receiver.received).toHaveLength(1); // nothing overtakes it while it waits for its retry
    await h.clock.set(t0 + BASE);
    await until(() => receiver.received.length === 4, 'everything');
    expect(receiver.received.map((r) => [r.headers['x-callback-kind'], r.headers['x-delivery-id']])).toEqual([
      ['event', 'ev_wf1_1'],
      ['event', 'ev_wf1_1'],
      ['event', 'ev_wf1_2'],
      ['result', 'cb_wf1'],
    ]);
    const bodies = receiver.received.map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(bodies[2]).toMatchObject({
      kind: 'event',
      workflowId: 'wf1',
      event: { seq: 2, type: 'session.notice' },
    });
    for (const r of receiver.received)
      expect(
        verifyCallbackSignature({
          secret: SECRET,
          timestamp: r.headers['x-timestamp'] as string,
          nonce: r.headers['x-nonce'] as string,
          signature: r.headers['x-signature'] as string,
          method: 'POST',
          pathWithQuery: r.path,
          rawBody: r.body,
          nowMs: h.clock.now(),
        }).ok,
      ).toBe(true);
  });

  it('one delivery per workflow: one outbox row, never two attempts in flight, however often it is kicked', async () => {
    await enqueue('wf1');
    // A second queueing of the same workflow's callback (a reconcile after a crash) adds nothing.
    await h.store.enqueueOutbox({ ...(await outbox('wf1')), id: 'cb_wf1_again', attempts: 0 });
    expect((await outbox('wf1')).id).toBe('cb_wf1');

    const release = receiver.holdResponses();
    const d = startDispatcher();
    await until(() => receiver.received.length === 1, 'the first POST');
    // While it is in flight the row stays due; polls and kicks must not send it again.
    for (let i = 0; i < 5; i++) {
      d.kick();
      await h.clock.advance(POLL);
    }
    expect(receiver.received).toHaveLength(1);
    release();
    await until(async () => (await outbox('wf1')).status === 'delivered', 'delivered');
    d.kick();
    await h.clock.advance(10 * POLL);
    expect(receiver.received).toHaveLength(1);
    expect((await outbox('wf1')).attempts).toBe(1);
  });

  it('a slow receiver does not hold up the delivery of other callbacks', async () => {
    const slow = await startReceiver();
    const release = slow.holdResponses();
    try {
      await enqueue('wf_slow', `${slow.url}/hook`);
      startDispatcher();
      await until(() => slow.received.length === 1, 'the slow receiver reached');
      await enqueue('wf_fast');
      dispatcher!.kick();
      await until(
        async () => (await outbox('wf_fast')).status === 'delivered',
        'the other callback delivered',
      );
      expect((await outbox('wf_slow')).status).toBe('pending');
    } finally {
      release();
      await slow.close();
    }
  });

  it('signs each attempt over "callback.<ts>.<nonce>.POST.<path>.<body>" at the clock\'s time, with a fresh nonce', async () => {
    const t0 = h.clock.now();
    await enqueue('wf1');
    receiver.answer(500, 200);
    startDispatcher();
    await until(async () => (await outbox('wf1')).attempts === 1, 'first attempt');
    await attemptAt('wf1', 2, t0 + 1_000);
    const [first, second] = receiver.received as [Received, Received];
    for (const [r, at] of [
      [first, t0],
      [second, t0 + 1_000],
    ] as const) {
      const signed = {
        secret: SECRET,
        timestamp: r.headers['x-timestamp'] as string,
        nonce: r.headers['x-nonce'] as string,
        signature: r.headers['x-signature'] as string,
        method: 'POST',
        pathWithQuery: '/hook?from=test',
        rawBody: r.body,
        nowMs: at,
      };
      expect(signed.timestamp).toBe(String(Math.floor(at / 1000)));
      expect(signed.nonce).toMatch(NONCE_RE);
      expect(verifyCallbackSignature(signed)).toEqual({ ok: true });
      // Never valid as a request to the server, nor for another body or path.
      expect(verifySignature(signed)).toEqual({ ok: false, reason: 'bad_signature' });
      expect(verifyCallbackSignature({ ...signed, rawBody: `${r.body} ` })).toEqual({
        ok: false,
        reason: 'bad_signature',
      });
      expect(verifyCallbackSignature({ ...signed, pathWithQuery: '/hook' })).toEqual({
        ok: false,
        reason: 'bad_signature',
      });
    }
    expect(first.headers['x-nonce']).not.toBe(second.headers['x-nonce']);
  });

  it('without a signing secret the callback is sent unsigned', async () => {
    await enqueue('wf1');
    startDispatcher({}, { ...h.config, signingSecret: undefined });
    await until(async () => (await outbox('wf1')).status === 'delivered', 'delivered');
    const [r] = receiver.received;
    expect(r?.headers['x-signature']).toBeUndefined();
    expect(r?.headers['x-delivery-id']).toBe('cb_wf1');
  });

  it('a destination that is not allowed fails at once, without a connection', async () => {
    await enqueue('wf1');
    // Loopback, but not listed in CALLBACK_ALLOW_HOSTS this time.
    startDispatcher({}, { ...h.config, callbackAllowHosts: parseHostAllowList([], 'CALLBACK_ALLOW_HOSTS') });
    await until(async () => (await outbox('wf1')).status === 'failed', 'failed');
    expect(await outbox('wf1')).toMatchObject({ attempts: 1, lastError: 'refused: destination not allowed' });
    await h.clock.advance(60_000);
    expect(receiver.received).toHaveLength(0);
  });

  it('stop(): no attempt after it', async () => {
    const t0 = h.clock.now();
    await enqueue('wf1');
    receiver.answer(500);
    const d = startDispatcher();
    await until(async () => (await outbox('wf1')).attempts === 1, 'first attempt');
    d.stop();
    await h.clock.set(t0 + 60_000);
    d.kick();
    await h.clock.advance(POLL);
    expect(receiver.received).toHaveLength(1);
  });
});
