// The Worker's bindings (wrangler.toml [vars], secrets, the Durable Object) and what derives from them.
import { AgentClient } from '@duyetbot/tier1';
import type { BotState } from './state.ts';

export interface Env {
  STATE: DurableObjectNamespace<BotState>;
  AGENT_SERVER_URL: string;
  /** Secret: the agent server's SIGNING_SECRET. */
  SIGNING_SECRET: string;
  PUBLIC_URL?: string;
  /** Secret. */
  TELEGRAM_BOT_TOKEN?: string;
  /** Secret: the `secret_token` given to setWebhook; Telegram sends it as X-Telegram-Bot-Api-Secret-Token. */
  TELEGRAM_WEBHOOK_SECRET?: string;
  TELEGRAM_API_URL?: string;
  TELEGRAM_ALLOWED_USERS?: string;
  /** Secret: a token that may comment on the repositories. */
  GITHUB_TOKEN?: string;
  /** Secret: the webhook's secret (X-Hub-Signature-256). */
  GITHUB_WEBHOOK_SECRET?: string;
  GITHUB_API_URL?: string;
  BOT_MENTION?: string;
  BOT_LOGIN?: string;
  REPO_URL_TEMPLATE?: string;
  APPROVE?: string;
  AGENT_TIMEOUT_MS?: string;
}

export function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function agentClient(env: Env): AgentClient {
  const timeoutMs = Number(env.AGENT_TIMEOUT_MS);
  return new AgentClient({
    baseUrl: env.AGENT_SERVER_URL,
    signingSecret: env.SIGNING_SECRET,
    timeoutMs: Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs : 8_000,
  });
}

/** The single state object (all chats share it; a bot's traffic is small). */
export function state(env: Env): DurableObjectStub<BotState> {
  return env.STATE.get(env.STATE.idFromName('bot'));
}

/** Where the server posts callbacks: PUBLIC_URL, else the origin the webhook arrived at. */
export function callbackUrl(env: Env, request: Request): string {
  const base = env.PUBLIC_URL?.replace(/\/+$/, '') || new URL(request.url).origin;
  return `${base}/callback`;
}

export function repoUrl(env: Env, repo: string): string {
  return (env.REPO_URL_TEMPLATE || 'https://github.com/{repo}.git').replace('{repo}', repo);
}

/** Events the server also posts to the callback (§10 `notify`): progress and approvals. */
export const NOTIFY = ['run.started', 'approval.requested', 'approval.resolved'];

/** Constant-time comparison of two secrets (Workers' crypto.subtle.timingSafeEqual needs equal lengths). */
export function sameSecret(given: string | null, expected: string | undefined): boolean {
  if (!given || !expected) return false;
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  return a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);
}

const LABELS: Record<string, string> = {
  refactor: 'refactoring',
  analysis: 'analysis',
  test: 'testing',
  deploy: 'deployment',
  custom: 'coding',
};

/** The seed's acknowledgement: "Started refactoring task (ID: abc123)". */
export function startedText(type: string, id: string): string {
  return `Started ${LABELS[type] ?? type} task (ID: ${id})`;
}

/** What Tier 1 says itself when a message is not escalated (a real bot would ask its own model here). */
export function quickAnswer(text: string): string {
  if (/^\s*\/(?:start|help)\b/i.test(text))
    return (
      'I hand coding work to the agent server. Try: "fix the failing test in owner/repo". ' +
      'Commands: /long <task> (run it as a long task), /status <id>, /cancel <id>, /list.'
    );
  return 'This is a quick question, so Tier 1 answers it directly (this example Worker has no model of its own).';
}
