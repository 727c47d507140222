// Example Tier 1 Worker of the duyetbot agent server (the seed's RouterAgent): Telegram and GitHub
// webhooks that answer quick questions at the edge and escalate real work to the agent server
// (Tier 2) with @duyetbot/tier1; the server's signed callbacks bring progress, approval requests
// and results back to the chat or the issue.
//   POST /telegram  Telegram Bot API webhook (X-Telegram-Bot-Api-Secret-Token)
//   POST /github    GitHub webhook, issue_comment (X-Hub-Signature-256)
//   POST /callback  the agent server's callbacks and notifications (signed, docs/api.md §3)
//   GET  /health    liveness
import { handleAgentCallback } from './callback.ts';
import type { Env } from './env.ts';
import { handleGitHub } from './github.ts';
import { handleTelegram } from './telegram.ts';

export { BotState } from './state.ts';

const routes: Record<string, (request: Request, env: Env) => Promise<Response>> = {
  '/telegram': handleTelegram,
  '/github': handleGitHub,
  '/callback': handleAgentCallback,
};

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === '/health' && request.method === 'GET') return new Response('ok');
    const route = routes[pathname];
    if (!route) return new Response('not found', { status: 404 });
    if (request.method !== 'POST')
      return new Response('method not allowed', { status: 405, headers: { Allow: 'POST' } });
    return route(request, env);
  },
} satisfies ExportedHandler<Env>;
