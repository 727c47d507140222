// The alert sinks against real receivers on loopback: Telegram's sendMessage as the Bot API
// validates it (a wrong token is 401 and is not retried; an unknown chat is 400), the webhook's
// signature, and the destination rules every callback obeys (loopback refused unless allowed —
// refused before any connection is made).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHostAllowList } from '../../src/net/allow-hosts.ts';
import { telegramSink, telegramText, webhookSink } from '../../src/runs/alerts/sinks.ts';
import type { AlertNotice } from '../../src/runs/alerts/types.ts';
import { verifyCallbackSignature } from '../../src/security/signing.ts';
import { ManualClock } from '../helpers/clock.ts';
import {
  type FakeTelegram,
  startFakeTelegram,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../helpers/telegram.ts';

const TOKEN = '42:good-token';
const notice: AlertNotice = {
  kind: 'alert',
  name: 'disk_usage',
  state: 'firing',
  severity: 'critical',
  message: 'data disk 95 % used (threshold 90 %)',
  value: 95,
  threshold: 90,
  at: '2030-01-01T00:00:00.000Z',
  instance: 'host-1',
};
const loopback = parseHostAllowList(['127.0.0.1'], 'CALLBACK_ALLOW_HOSTS');
const nothing = parseHostAllowList([], 'CALLBACK_ALLOW_HOSTS');
const clock = new ManualClock();

let tg: FakeTelegram;
let hook: WebhookReceiver;
beforeAll(async () => {
  tg = await startFakeTelegram({ token: TOKEN, chatIds: ['7'] });
  hook = await startWebhookReceiver();
});
afterAll(async () => {
  await tg.close();
  await hook.close();
});

describe('telegram sink', () => {
  it('sends sendMessage with chat_id and plain text', async () => {
    const sink = telegramSink({ botToken: TOKEN, chatId: '7', apiUrl: tg.url }, { allow: loopback, clock });
    expect(await sink.send(notice)).toEqual({ ok: true });
    expect(tg.messages.at(-1)).toMatchObject({ chatId: '7', text: telegramText(notice) });
    expect(telegramText(notice)).toBe(
      '🔴 FIRING disk_usage [critical]\ndata disk 95 % used (threshold 90 %)\nvalue 95, threshold 90\nhost-1 · 2030-01-01T00:00:00.000Z',
    );
  });

  it('a wrong token (401) or an unknown chat (400) is a refusal, not retried', async () => {
    const bad = telegramSink(
      { botToken: '42:wrong', chatId: '7', apiUrl: tg.url },
      { allow: loopback, clock },
    );
    expect(await bad.send(notice)).toEqual({ ok: false, error: 'HTTP 401', retry: false });
    const chat = telegramSink({ botToken: TOKEN, chatId: '8', apiUrl: tg.url }, { allow: loopback, clock });
    expect(await chat.send(notice)).toEqual({ ok: false, error: 'HTTP 400', retry: false });
  });

  it('cuts a message to Telegram’s 4096 characters', async () => {
    const sink = telegramSink({ botToken: TOKEN, chatId: '7', apiUrl: tg.url }, { allow: loopback, clock });
    expect(await sink.send({ ...notice, message: 'x'.repeat(10_000) })).toEqual({ ok: true });
    expect(tg.messages.at(-1)?.text.length).toBe(4096);
  });
});

describe('webhook sink', () => {
  it('POSTs the notice signed like a callback when a secret is set, unsigned otherwise', async () => {
    const url = `${hook.url}/a/b?c=d`;
    expect(await webhookSink(url, 's3cret', { allow: loopback, clock }).send(notice)).toEqual({ ok: true });
    const r = hook.received.at(-1)!;
    expect(JSON.parse(r.body)).toEqual(notice);
    expect(r.headers['x-delivery-id']).toMatch(/^alert_/);
    const verify = (secret: string) =>
      verifyCallbackSignature({
        secret,
        timestamp: r.headers['x-timestamp'] as string,
        nonce: r.headers['x-nonce'] as string,
        signature: r.headers['x-signature'] as string,
        method: 'POST',
        pathWithQuery: '/a/b?c=d',
        rawBody: r.body,
        nowMs: clock.now(),
      });
    expect(verify('s3cret')).toEqual({ ok: true });
    expect(verify('other')).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await webhookSink(url, undefined, { allow: loopback, clock }).send(notice)).toEqual({ ok: true });
    expect(hook.received.at(-1)?.headers['x-signature']).toBeUndefined();
  });

  it('5xx is retried, 4xx is not', async () => {
    const sink = webhookSink(hook.url, undefined, { allow: loopback, clock });
    hook.answer(503, 404);
    expect(await sink.send(notice)).toEqual({ ok: false, error: 'HTTP 503', retry: true });
    expect(await sink.send(notice)).toEqual({ ok: false, error: 'HTTP 404', retry: false });
  });

  it('refuses a loopback destination that is not in CALLBACK_ALLOW_HOSTS, before connecting', async () => {
    const before = hook.received.length;
    const res = await webhookSink(hook.url, undefined, { allow: nothing, clock }).send(notice);
    expect(res).toEqual({ ok: false, error: 'refused: destination not allowed', retry: false });
    // a host name is resolved (injected lookup → loopback) and refused the same way
    const named = webhookSink(`http://alerts.internal.example:${new URL(hook.url).port}/x`, undefined, {
      allow: nothing,
      clock,
      lookup: async () => ['127.0.0.1'],
    });
    expect(await named.send(notice)).toEqual({
      ok: false,
      error: 'refused: destination not allowed',
      retry: false,
    });
    expect(hook.received.length).toBe(before);
  });
});
