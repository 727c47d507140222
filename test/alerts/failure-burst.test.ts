// The failure burst, end to end (docs/api.md §11): a real server whose native engine talks to the
// mock LLM; the mock answers 500 to every request, so runs fail with llm_unavailable. At the third
// failure ONE alert goes to a fake Telegram Bot API and ONE signed POST to a webhook receiver (both
// on loopback, allowed through CALLBACK_ALLOW_HOSTS like any callback destination). More failures
// send nothing (de-duplication); when the mock recovers and a run completes, one "resolved" goes to
// each. A new burst within the cool-down sends nothing; once the cool-down has passed (the alert
// clock is moved, not waited for) its firing goes out, and its resolve after it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNativeEngine } from '../../src/agent/native/engine.ts';
import { loadConfig } from '../../src/config.ts';
import { apiError } from '../../src/mock-llm/errors.ts';
import { type MockLlm, startMockLlm, textReply } from '../../src/mock-llm/index.ts';
import { verifyCallbackSignature } from '../../src/security/signing.ts';
import { ManualClock } from '../helpers/clock.ts';
import { api, json, startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/sleep.ts';
import {
  type FakeTelegram,
  startFakeTelegram,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../helpers/telegram.ts';

const SECRET = 'alert-signing-secret';
const KEY = 'alert-test-key';
const TOKEN = '123456:TEST-token_abc';
const CHAT = '-1001234';
const COOLDOWN_MS = 15 * 60_000;

let mock: MockLlm;
let telegram: FakeTelegram;
let hook: WebhookReceiver;
let server: TestServer;
let failing = true;
const clock = new ManualClock();
let finished = 0;

beforeAll(async () => {
  mock = await startMockLlm({
    responder: () => (failing ? apiError(500, 'api_error', 'Internal server error') : textReply('ok')),
  });
  telegram = await startFakeTelegram({ token: TOKEN, chatIds: [CHAT] });
  hook = await startWebhookReceiver();
  const env = {
    ANTHROPIC_API_KEY: 'sk-test',
    ANTHROPIC_BASE_URL: mock.url,
    API_KEYS: KEY,
    SIGNING_SECRET: SECRET,
    ALERT_WEBHOOK_URL: `${hook.url}/hooks/alerts?from=agent`,
    TELEGRAM_BOT_TOKEN: TOKEN,
    TELEGRAM_CHAT_ID: CHAT,
    TELEGRAM_API_URL: telegram.url,
    CALLBACK_ALLOW_HOSTS: '127.0.0.1',
    ALERT_LLM_FAILURES: '3',
    ALERT_COOLDOWN_MS: String(COOLDOWN_MS),
    ALERT_EVAL_INTERVAL_MS: '15000',
    ALERT_WINDOW_MS: String(2 * COOLDOWN_MS), // the held-back burst is still in the window after the cool-down
    // only the rule under test: this machine's disk and memory are not this test's business
    ALERT_RUN_FAILURES: '0',
    ALERT_DISK_PERCENT: '0',
    ALERT_MEMORY_PERCENT: '0',
  };
  // The real native engine, with one quick retry instead of five slow ones.
  const engineConfig = loadConfig({ DATA_DIR: '/tmp', ...env });
  server = await startTestServer(env, {
    engines: {
      native: createNativeEngine({ config: engineConfig, retry: { maxRetries: 1, baseDelayMs: 5 } }),
    },
    alerts: { clock },
  });
  server.runtime.lifecycle.on('run.finished', () => {
    finished++;
  });
});

afterAll(async () => {
  await server?.close();
  await Promise.all([mock?.close(), telegram?.close(), hook?.close()]);
});

const auth = { Authorization: `Bearer ${KEY}` };

/** Sends `n` messages to a new session and waits until their runs ended. */
async function runs(n: number): Promise<void> {
  const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}, auth));
  const target = finished + n;
  for (let i = 0; i < n; i++) {
    const res = await api(
      server.url,
      'POST',
      `/api/sessions/${s.id}/messages`,
      { content: `try ${i}` },
      auth,
    );
    expect(res.status).toBe(202);
  }
  await until(() => finished >= target, `${n} runs to end`, 30_000);
  await server.runtime.alerts.evaluate({ probes: false }); // the evaluation those ends started
}

const hookBodies = () => hook.received.map((r) => JSON.parse(r.body) as Record<string, unknown>);

describe('a failure burst of the LLM endpoint', () => {
  it('fires one alert to Telegram and one signed webhook, then one resolved each; nothing during the cool-down', async () => {
    await runs(2);
    expect(telegram.messages).toEqual([]);
    expect(hook.received).toEqual([]);

    await runs(1); // the third failure crosses ALERT_LLM_FAILURES
    await until(
      () => telegram.messages.length === 1 && hook.received.length === 1,
      'notice 1 on both sinks',
      10_000,
    );
    const [firing] = hookBodies();
    expect(firing).toEqual({
      kind: 'alert',
      name: 'llm_failures',
      state: 'firing',
      severity: 'critical',
      message: expect.stringContaining('3 runs failed because the LLM API failed'),
      value: 3,
      threshold: 3,
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      instance: server.runtime.config.instanceId,
    });
    // signed like a callback (docs/api.md §3) over the webhook URL's path and query
    const r = hook.received[0]!;
    expect(r.path).toBe('/hooks/alerts?from=agent');
    expect(
      verifyCallbackSignature({
        secret: SECRET,
        timestamp: r.headers['x-timestamp'] as string,
        nonce: r.headers['x-nonce'] as string,
        signature: r.headers['x-signature'] as string,
        method: 'POST',
        pathWithQuery: r.path,
        rawBody: r.body,
        nowMs: clock.now(),
      }),
    ).toEqual({ ok: true });
    expect(
      verifyCallbackSignature({
        secret: 'another-secret',
        timestamp: r.headers['x-timestamp'] as string,
        nonce: r.headers['x-nonce'] as string,
        signature: r.headers['x-signature'] as string,
        method: 'POST',
        pathWithQuery: r.path,
        rawBody: r.body,
        nowMs: clock.now(),
      }),
    ).toEqual({ ok: false, reason: 'bad_signature' });
    expect(telegram.messages[0]).toMatchObject({ chatId: CHAT });
    expect(telegram.messages[0]?.text).toMatch(/^🔴 FIRING llm_failures \[critical\]\n3 runs failed/);
    expect(telegram.requests).toEqual([{ path: `/bot${TOKEN}/sendMessage`, status: 200 }]);

    // still failing: de-duplicated
    await runs(3);
    expect(telegram.messages).toHaveLength(1);
    expect(hook.received).toHaveLength(1);
    expect(server.runtime.alerts.firing()).toEqual([
      expect.objectContaining({ name: 'llm_failures', value: 6, notified: true }),
    ]);

    // the mock recovers: the next run completes and the alert resolves, once per sink
    failing = false;
    await runs(1);
    await until(
      () => telegram.messages.length === 2 && hook.received.length === 2,
      'notice 2 on both sinks',
      10_000,
    );
    expect(hookBodies()[1]).toMatchObject({
      name: 'llm_failures',
      state: 'resolved',
      value: 6,
      threshold: 3,
    });
    expect(telegram.messages[1]?.text).toMatch(/^✅ RESOLVED llm_failures\n/);
    expect(server.runtime.alerts.firing()).toEqual([]);

    // a new burst within the cool-down: firing, held back, nothing sent
    failing = true;
    await clock.advance(60_000);
    await runs(3);
    expect(server.runtime.alerts.firing()).toEqual([
      expect.objectContaining({ name: 'llm_failures', notified: false }),
    ]);
    expect(telegram.messages).toHaveLength(2);
    expect(hook.received).toHaveLength(2);

    // past the cool-down, the periodic evaluation sends it (once), and the recovery resolves it
    await clock.advance(COOLDOWN_MS);
    await until(
      () => telegram.messages.length === 3 && hook.received.length === 3,
      'notice 3 on both sinks',
      10_000,
    );
    expect(hookBodies()[2]).toMatchObject({ state: 'firing' });
    failing = false;
    await runs(1);
    await until(
      () => telegram.messages.length === 4 && hook.received.length === 4,
      'notice 4 on both sinks',
      10_000,
    );
    expect(hookBodies().map((b) => b.state)).toEqual(['firing', 'resolved', 'firing', 'resolved']);
    expect(telegram.requests.every((q) => q.status === 200)).toBe(true);
  });
});
