// WebSocket tickets across instances (docs/api.md §12): two servers on one real PostgreSQL with the
// same API_KEYS. A ticket issued by A opens a connection on B (no sticky sessions needed), and only
// once: its single use is recorded in the shared nonce table, so A refuses it afterwards.
// Without PostgreSQL this file FAILS — SKIP_PG_TESTS=1 skips it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WS_PROTOCOL } from '../../src/server/ws-ticket.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { json, startTestServer, type TestServer } from '../helpers/server.ts';
import { freshDatabase } from './helpers.ts';

const skip = process.env.SKIP_PG_TESTS === '1';
const KEY = 'multi-instance-ticket-key';

/** 101 when the upgrade succeeded, else the refusal's HTTP status. */
function upgrade(server: TestServer, protocol: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${server.wsUrl}/ws`, [WS_PROTOCOL, protocol]);
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_q, r) => resolve(r.statusCode ?? 0));
    ws.once('error', () => resolve(-1));
  });
}

describe.skipIf(skip)('WebSocket tickets across instances (PostgreSQL)', () => {
  let pg: TestPostgres;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    for (const s of servers.reverse()) await s.close();
    await pg?.stop();
  });

  it('a ticket from A opens a connection on B, once', async () => {
    const databaseUrl = await freshDatabase(pg.url);
    const env = (name: string) => ({
      DATABASE_URL: databaseUrl,
      INSTANCE_ID: name,
      API_KEYS: KEY,
      ANTHROPIC_API_KEY: 'test-key',
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
      RATE_LIMIT_PER_MINUTE: '1000000',
      UI_ENABLED: 'false',
    });
    const a = await startTestServer(env('ticket-a'));
    servers.push(a);
    const b = await startTestServer(env('ticket-b'));
    servers.push(b);
    const res = await fetch(`${a.url}/api/ws-ticket`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}` },
    });
    const { protocol } = await json<{ protocol: string }>(res);
    expect(await upgrade(b, protocol)).toBe(101);
    expect(await upgrade(a, protocol)).toBe(401);
    expect(await upgrade(b, protocol)).toBe(401);
  });
});
