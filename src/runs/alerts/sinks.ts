// Where alert notices go: a signed webhook (ALERT_WEBHOOK_URL) and Telegram (the Bot API's
// sendMessage). Both POST through safePost, so they obey the destinations rules of callbacks
// (docs/api.md §6: loopback/private/metadata addresses only when listed in CALLBACK_ALLOW_HOSTS,
// no redirects, one deadline). The webhook is signed like a callback (docs/api.md §3:
// "callback.<ts>.<nonce>.POST.<path+query>.<body>") when SIGNING_SECRET is set. The bot token is
// part of the Telegram URL: it is never logged (safePost's errors never carry the URL).
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../clock.ts';
import type { HostAllowList } from '../../net/allow-hosts.ts';
import { type HostLookup, type SafePostResult, safePost } from '../../net/safe-post.ts';
import { callbackSignedHeaders } from '../../security/signing.ts';
import type { AlertNotice, AlertSink } from './types.ts';

export interface SinkOptions {
  allow: HostAllowList;
  clock: Clock;
  timeoutMs?: number;
  lookup?: HostLookup;
}

const TELEGRAM_TEXT_LIMIT = 4096;

function outcome(res: SafePostResult, permanentStatus: (s: number) => boolean) {
  if (res.ok) return { ok: true as const };
  const permanent = res.permanent || (res.status !== undefined && permanentStatus(res.status));
  return { ok: false as const, error: res.error, retry: !permanent };
}

export function webhookSink(url: string, signingSecret: string | undefined, o: SinkOptions): AlertSink {
  return {
    name: 'webhook',
    async send(n) {
      const body = JSON.stringify(n);
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        'User-Agent': 'duyetbot-agent-server',
        // Receivers de-duplicate on it (a retry after a lost answer repeats the id).
        'X-Delivery-Id': `alert_${randomUUID()}`,
        ...(signingSecret ? callbackSignedHeaders(signingSecret, url, body, o.clock.now()) : {}),
      };
      const res = await safePost({
        url,
        body,
        headers,
        allow: o.allow,
        timeoutMs: o.timeoutMs ?? 10_000,
        ...(o.lookup ? { lookup: o.lookup } : {}),
      });
      // 4xx other than 408/429: the receiver refuses this notice; retrying repeats the refusal.
      return outcome(res, (s) => s >= 400 && s < 500 && s !== 408 && s !== 429);
    },
  };
}

/** The message Telegram shows: plain text (no parse_mode, so nothing needs escaping). */
export function telegramText(n: AlertNotice): string {
  const head =
    n.state === 'firing'
      ? `🔴 FIRING ${n.name}${n.subject ? ` (${n.subject})` : ''} [${n.severity}]`
      : `✅ RESOLVED ${n.name}${n.subject ? ` (${n.subject})` : ''}`;
  const text = `${head}\n${n.message}\nvalue ${n.value}, threshold ${n.threshold}\n${n.instance} · ${n.at}`;
  return text.length > TELEGRAM_TEXT_LIMIT ? `${text.slice(0, TELEGRAM_TEXT_LIMIT - 1)}…` : text;
}

export function telegramSink(
  t: { botToken: string; chatId: string; apiUrl: string },
  o: SinkOptions,
): AlertSink {
  const url = `${t.apiUrl}/bot${t.botToken}/sendMessage`;
  return {
    name: 'telegram',
    async send(n) {
      const body = JSON.stringify({
        chat_id: t.chatId,
        text: telegramText(n),
        disable_web_page_preview: true,
      });
      const res = await safePost({
        url,
        body,
        headers: { 'Content-Type': 'application/json', 'User-Agent': 'duyetbot-agent-server' },
        allow: o.allow,
        timeoutMs: o.timeoutMs ?? 10_000,
        ...(o.lookup ? { lookup: o.lookup } : {}),
      });
      // 400 (bad chat), 401 (bad token), 403 (bot blocked), 404: a setting is wrong; 429 is retried.
      return outcome(res, (s) => s >= 400 && s < 500 && s !== 429);
    },
  };
}
