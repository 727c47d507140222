// Replay protection of signed requests across instances (docs/api.md §3): two servers on one real
// PostgreSQL share the accepted nonces, so a captured signed request accepted by instance A is
// refused by instance B (and by A again), while a fresh nonce is accepted anywhere.
// Without PostgreSQL this file FAILS — SKIP_PG_TESTS=1 skips it.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/security/signing.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { json, startTestServer, type TestServer } from '../helpers/server.ts';
import { freshDatabase } from './helpers.ts';

const skip = process.env.SKIP_PG_TESTS === '1';
const SECRET = 'replay-test-signing-secret';

type ErrorBody = { error: { code: string; message: string } };

/** The headers and body of one signed request; sending them twice is a byte-identical replay. */
function signedRequest(method: string, pathWithQuery: string, body: string, nonce?: string) {
  const ts = String(Math.floor(Date.now() / 1000));
  const n = nonce ?? `n-${randomBytes(12).toString('base64url')}`;
  return {
    method,
    pathWithQuery,
    body,
    headers: {
      'X-Timestamp': ts,
      'X-Nonce': n,
      'X-Signature': sign(SECRET, ts, n, method, pathWithQuery, body),
      ...(body ? { 'Content-Type': 'application/json' } : {}),
    },
  };
}
type Signed = ReturnType<typeof signedRequest>;

const send = (server: TestServer, r: Signed) =>
  fetch(server.url + r.pathWithQuery, { method: r.method, headers: r.headers, body: r.body || undefined });

async function expectReplay(res: Response): Promise<void> {
  expect(res.status).toBe(401);
  const b = await json<ErrorBody>(res);
  expect(b.error.code).toBe('unauthorized');
  expect(b.error.message).toBe('request signature rejected: nonce already used (replay)');
}

describe.skipIf(skip)('multi-instance replay protection (PostgreSQL)', () => {
  let pg: TestPostgres;
  let a: TestServer;
  let b: TestServer;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
  }, 120_000);
  afterEach(async () => {
    for (const s of servers.splice(0).reverse()) await s.close();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  async function cluster(): Promise<void> {
    const databaseUrl = await freshDatabase(pg.url);
    const env = (name: string) => ({
      DATABASE_URL: databaseUrl,
      INSTANCE_ID: name,
      SIGNING_SECRET: SECRET,
      ANTHROPIC_API_KEY: 'test-key',
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
      RATE_LIMIT_PER_MINUTE: '1000000',
    });
    a = await startTestServer(env('replay-a'));
    servers.push(a);
    b = await startTestServer(env('replay-b'));
    servers.push(b);
  }

  it('a signed request accepted by A is a replay on B (and on A); a fresh nonce is accepted by B', async () => {
    await cluster();
    const body = JSON.stringify({ title: 'signed once', metadata: { via: 'A' } });
    const captured = signedRequest('POST', '/api/sessions', body);

    const first = await send(a, captured);
    expect(first.status, await first.clone().text()).toBe(201);
    const created = await json<{ id: string }>(first);

    await expectReplay(await send(b, captured));
    await expectReplay(await send(a, captured));

    const fresh = await send(
      b,
      signedRequest('POST', '/api/sessions', JSON.stringify({ title: 'fresh on B' })),
    );
    expect(fresh.status, await fresh.clone().text()).toBe(201);

    // the replays created nothing: exactly the two accepted sessions exist, seen from either side
    const list = signedRequest('GET', '/api/sessions?limit=50', '');
    const listed = await json<{ items: Array<{ id: string; title: string }> }>(await send(a, list));
    expect(listed.items.map((s) => s.title).sort()).toEqual(['fresh on B', 'signed once']);
    expect(listed.items.some((s) => s.id === created.id)).toBe(true);
    await expectReplay(await send(b, list));
  });

  it('the same signed request sent to both instances at once is accepted exactly once', async () => {
    await cluster();
    for (let round = 0; round < 5; round++) {
      const r = signedRequest('GET', `/api/sessions?limit=1&round=${round}`, '');
      const res = await Promise.all([send(a, r), send(b, r), send(a, r), send(b, r)]);
      const statuses = res.map((x) => x.status);
      expect(
        statuses.filter((s) => s === 200),
        statuses.join(','),
      ).toHaveLength(1);
      expect(
        statuses.filter((s) => s === 401),
        statuses.join(','),
      ).toHaveLength(3);
      await Promise.all(res.map((x) => x.arrayBuffer()));
    }
  });
});
