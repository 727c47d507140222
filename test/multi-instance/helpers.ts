// Several server instances on one real PostgreSQL and one real redis-server: in-process instances
// (startTestServer) with their own DATA_DIR and INSTANCE_ID, and a marker-routed mock LLM.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { textsOf } from '../../src/mock-llm/helpers.ts';
import {
  type MessagesRequest,
  type MockTurn,
  type Responder,
  textReply,
  toolCall,
} from '../../src/mock-llm/index.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { json, startTestServer, type TestServer } from '../helpers/server.ts';
import { workflowResponder } from '../workflows/helpers.ts';

export const API_KEY = 'test-api-key';
export const LEASE_MS = '1500';

export type Ev = {
  seq: number;
  type: string;
  sessionId: string;
  runId?: string;
  data: Record<string, unknown>;
};

export interface Infra {
  pg: TestPostgres;
  redis: TestRedis;
  close(): Promise<void>;
}

/** PostgreSQL (fsync off unless `durable`) and redis-server; a failure of either stops the other. */
export async function startInfra(pgOptions: { durable?: boolean } = {}): Promise<Infra> {
  const [pgr, redis] = await Promise.allSettled([startPostgres(pgOptions), startRedis()]);
  if (pgr.status === 'rejected' || redis.status === 'rejected') {
    if (pgr.status === 'fulfilled') await pgr.value.stop();
    if (redis.status === 'fulfilled') await redis.value.close();
    throw pgr.status === 'rejected' ? pgr.reason : (redis as PromiseRejectedResult).reason;
  }
  return {
    pg: pgr.value,
    redis: redis.value,
    close: async () => {
      await redis.value.close();
      await pgr.value.stop();
    },
  };
}

/** A fresh database on the test server (each scenario gets its own queue and events). */
export async function freshDatabase(serverUrl: string, prefix = 'mi'): Promise<string> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Env of one instance of the cluster. */
export function instanceEnv(
  name: string,
  o: { databaseUrl: string; redisUrl: string; llmUrl: string },
): Record<string, string> {
  return {
    DATABASE_URL: o.databaseUrl,
    REDIS_URL: o.redisUrl,
    INSTANCE_ID: name,
    ANTHROPIC_BASE_URL: o.llmUrl,
    ANTHROPIC_API_KEY: 'test-key',
    API_KEYS: API_KEY,
    RUN_LEASE_MS: LEASE_MS,
    RATE_LIMIT_PER_MINUTE: '1000000',
    MAX_CONCURRENT_RUNS: '8',
  };
}

export function startInstance(
  name: string,
  o: { databaseUrl: string; redisUrl: string; llmUrl: string },
): Promise<TestServer> {
  return startTestServer(instanceEnv(name, o));
}

/** Stops an in-process instance from claiming runs (it keeps serving HTTP and WebSocket). */
export async function stopClaiming(s: TestServer): Promise<void> {
  await s.runtime.scheduler.drain(0);
}

export function authed(base: string) {
  return async (method: string, p: string, body?: unknown) =>
    fetch(base + p, {
      method,
      headers: {
        Authorization: `Bearer ${API_KEY}`,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
}
export type Api = ReturnType<typeof authed>;

export async function sessionEvents(api: Api, sessionId: string): Promise<Ev[]> {
  return (
    await json<{ items: Ev[] }>(await api('GET', `/api/sessions/${sessionId}/events?after=0&limit=1000`))
  ).items;
}

const MARKER = /\[\[script:([A-Za-z0-9_.:-]+)\]\]/;

/**
 * The current message's script: the marker in the LAST user message with text (a session's later
 * message picks its own script), and the turn within that run (assistant messages after it).
 */
function currentScript(req: MessagesRequest): { name?: string; turn: number } {
  for (let i = req.messages.length - 1; i >= 0; i--) {
    const m = req.messages[i]!;
    if (m.role !== 'user') continue;
    const texts = textsOf(m.content);
    if (texts.length === 0) continue;
    const name = texts.map((t) => MARKER.exec(t)?.[1]).find((x) => x !== undefined);
    return { name, turn: req.messages.slice(i + 1).filter((x) => x.role === 'assistant').length };
  }
  return { turn: 0 };
}

const streamed = (text: string) =>
  textReply(text, { chunkSize: 4, deltaDelayMs: 10, stopReason: 'end_turn' });

/**
 * By `[[script:NAME]]` marker in the current message (else the workflow scripts of
 * test/workflows/helpers.ts, which route on the first message):
 * - live: bash (echo, sleep 1, echo), then a streamed reply in ~12 deltas
 * - outage: bash sleeping 2 s with output before and after, then a streamed reply
 * - quick: bash echo, then "quick done"
 * - dirty: writes an uncommitted file in the workspace, then "wrote"
 * - inspect: lists the workspace, the clone's last commit and whether the file is there
 */
export function clusterResponder(): Responder {
  const scripts: Record<string, MockTurn[]> = {
    live: [
      toolCall('bash', { command: 'echo start; sleep 1; echo end' }),
      streamed('all done here, the cross-instance stream worked'),
    ],
    outage: [
      toolCall('bash', { command: 'echo before; sleep 2; echo after' }),
      streamed('the outage is over and the stream continued to the end'),
    ],
    quick: [toolCall('bash', { command: 'echo quick' }), textReply('quick done', { stopReason: 'end_turn' })],
    dirty: [
      toolCall('bash', { command: 'echo scratch > uncommitted.txt && ls' }),
      textReply('wrote', { stopReason: 'end_turn' }),
    ],
    inspect: [
      toolCall('bash', {
        command:
          'ls; git log -1 --format=%s; test -e uncommitted.txt && echo HAS-UNCOMMITTED || echo NO-UNCOMMITTED',
      }),
      textReply('inspected', { stopReason: 'end_turn' }),
    ],
  };
  const workflows = workflowResponder();
  return (req, info) => {
    const { name, turn } = currentScript(req);
    const script = name !== undefined && Object.hasOwn(scripts, name) ? scripts[name]! : undefined;
    if (!script) return workflows(req, info);
    return script[turn] ?? textReply('done', { stopReason: 'end_turn' });
  };
}

/** Seqs are 1..n, each once, in order. */
export function gapFree(events: Array<{ seq: number }>): boolean {
  return events.every((e, i) => e.seq === i + 1);
}
