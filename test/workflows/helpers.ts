// Shared pieces of the workflow tests: a marker-routed mock LLM script, an authenticated API
// helper, and a local callback receiver that records every delivery.
import http from 'node:http';
import {
  bugfixScenario,
  byMarker,
  type Responder,
  scripted,
  textReply,
  toolCall,
} from '../../src/mock-llm/index.ts';
import { validEvents } from '../helpers/event-schema.ts';
import { type MockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { json, waitFor } from '../helpers/server.ts';

export const API_KEY = 'test-api-key';
export const SECRET = 'test-signing-secret';

export type Wf = {
  id: string;
  status: string;
  priority: string;
  attempts: number;
  sessionId: string;
  startedAt?: string;
  completedAt?: string;
  result?: { summary: string; changedFiles?: string[]; commits?: Array<{ sha: string; message: string }> };
  error?: { code: string; message: string };
  usage: { inputTokens: number; outputTokens: number; costUsd: number };
  callback?: { status: string; attempts: number; lastError?: string };
};
export type Ev = { seq: number; type: string; runId?: string; data: Record<string, unknown> };

/**
 * `[[script:NAME]]` in the instructions picks the script:
 * - sleepN: bash `sleep N` (writing its pid to pid.txt first), then "slept"
 * - bugfix: the fixture bugfix scenario
 * - batch: a short streamed reply (~120 ms)
 * - default: an immediate text reply "done"
 */
export function workflowResponder(): Responder {
  const sleeper = (n: number): Responder =>
    scripted([
      toolCall('bash', { command: `echo $$ > pid.txt; exec sleep ${n}` }),
      textReply(`slept ${n}`, { stopReason: 'end_turn' }),
    ]);
  return byMarker(
    {
      // ~10 streamed deltas 15 ms apart: short, but long enough for a crash to land mid-run
      batch: () => textReply('batch run finished fine', { chunkSize: 3, deltaDelayMs: 15 }),
      sleep1: sleeper(1),
      sleep2: sleeper(2),
      sleep3: sleeper(3),
      sleep30: sleeper(30),
      bugfix: bugfixScenario('native'),
    },
    () => textReply('done'),
  );
}

export function authed(base: string, key = API_KEY) {
  return async (method: string, p: string, body?: unknown) =>
    fetch(base + p, {
      method,
      headers: {
        Authorization: `Bearer ${key}`,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
}

export type Api = ReturnType<typeof authed>;

/**
 * The mock LLM (workflowResponder) and an in-process server on it that takes API_KEY and does not
 * rate-limit, plus `env`; `api` is authenticated with API_KEY.
 */
export async function startWorkflowServer(env: Record<string, string>): Promise<MockedServer & { api: Api }> {
  const started = await startMockedServer(
    { responder: workflowResponder() },
    { ANTHROPIC_API_KEY: 'k', API_KEYS: API_KEY, RATE_LIMIT_PER_MINUTE: '1000000', ...env },
  );
  return { ...started, api: authed(started.server.url) };
}

export async function getWf(api: Api, id: string): Promise<Wf> {
  return json<Wf>(await api('GET', `/api/workflows/${id}`));
}

export async function waitTerminal(api: Api, id: string, timeoutMs = 30_000): Promise<Wf> {
  return waitFor(
    async () => {
      const w = await getWf(api, id);
      return ['completed', 'failed', 'cancelled'].includes(w.status) ? w : undefined;
    },
    timeoutMs,
    100,
  );
}

/** The workflow's events from the start (up to 1000), each checked against its schema. */
export async function events(api: Api, id: string): Promise<Ev[]> {
  const { items } = await json<{ items: Ev[] }>(
    await api('GET', `/api/workflows/${id}/events?after=0&limit=1000`),
  );
  validEvents(items, `events of workflow ${id}`);
  return items;
}

export interface Delivery {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  status: number;
  /** Date.now() when answered */
  at: number;
}

/** A local callback receiver; `respond` picks the status of each request (default 200). */
export async function startReceiver(
  respond: (d: Omit<Delivery, 'status' | 'at'>, n: number) => number = () => 200,
) {
  const deliveries: Delivery[] = [];
  let port = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const d = { url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      const status = respond(d, deliveries.length);
      deliveries.push({ ...d, status, at: Date.now() });
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
    });
  });
  const listenOn = (p: number) => new Promise<void>((r) => server.listen(p, '127.0.0.1', () => r()));
  await listenOn(0);
  const addr = server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    deliveries,
    /** Accepted (2xx) deliveries per workflow id. */
    accepted(): Map<string, number> {
      const m = new Map<string, number>();
      for (const d of deliveries) {
        if (d.status >= 300) continue;
        const id = (JSON.parse(d.body) as { id: string }).id;
        m.set(id, (m.get(id) ?? 0) + 1);
      }
      return m;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
    /** Re-opens on the same port after close(). */
    reopen: () => listenOn(port),
  };
}
