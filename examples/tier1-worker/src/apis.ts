// The two outside APIs the Worker calls: the Telegram Bot API and the GitHub REST API. Base URLs are
// vars (TELEGRAM_API_URL, GITHUB_API_URL) so tests point them at local fakes.
import type { Env } from './env.ts';

const CALL_TIMEOUT_MS = 5_000;

export interface InlineButton {
  text: string;
  callback_data: string;
}

export interface SendMessage {
  chat_id: number;
  text: string;
  reply_parameters?: { message_id: number; allow_sending_without_reply?: boolean };
  reply_markup?: { inline_keyboard: InlineButton[][] };
  link_preview_options?: { is_disabled: boolean };
}

/** One Bot API call: `POST <api>/bot<token>/<method>` with JSON; `{ok:false}` → an error. */
export async function telegram<T = unknown>(env: Env, method: string, params: object): Promise<T> {
  if (!env.TELEGRAM_BOT_TOKEN) throw new Error('TELEGRAM_BOT_TOKEN is not set');
  const base = (env.TELEGRAM_API_URL || 'https://api.telegram.org').replace(/\/+$/, '');
  const res = await fetch(`${base}/bot${env.TELEGRAM_BOT_TOKEN}/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(params),
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  });
  const body = (await res.json().catch(() => ({}))) as { ok?: boolean; result?: T; description?: string };
  if (!res.ok || body.ok !== true)
    throw new Error(`Telegram ${method}: ${res.status} ${body.description ?? ''}`);
  return body.result as T;
}

export function sendMessage(env: Env, msg: SendMessage): Promise<{ message_id: number }> {
  return telegram(env, 'sendMessage', { link_preview_options: { is_disabled: true }, ...msg });
}

/** `POST <api>/repos/<owner>/<name>/issues/<n>/comments` (issues and pull requests alike). */
export async function githubComment(env: Env, repo: string, issue: number, body: string): Promise<void> {
  if (!env.GITHUB_TOKEN) throw new Error('GITHUB_TOKEN is not set');
  const base = (env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, '');
  const res = await fetch(`${base}/repos/${repo}/issues/${issue}/comments`, {
    method: 'POST',
    headers: {
      Accept: 'application/vnd.github+json',
      Authorization: `Bearer ${env.GITHUB_TOKEN}`,
      'Content-Type': 'application/json',
      'User-Agent': 'duyetbot-tier1',
      'X-GitHub-Api-Version': '2022-11-28',
    },
    body: JSON.stringify({ body }),
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  });
  if (!res.ok) throw new Error(`GitHub comment on ${repo}#${issue}: ${res.status}`);
}
