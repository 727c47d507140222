// The Store contract against a real PostgreSQL. A throwaway server is started (see
// test/helpers/postgres.ts) unless PG_TEST_URL is set; every test gets its own schema.
// Without a PostgreSQL installation this file FAILS — set SKIP_PG_TESTS=1 to skip it explicitly.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { newSession, type StoreHarness, storeContract } from './contract.ts';

const skip = process.env.SKIP_PG_TESTS === '1';

let server: TestPostgres | undefined;
let admin: pg.Pool | undefined;

/** URL whose connections use `schema` (created here) as search_path. */
async function freshSchema(): Promise<{ url: string; schema: string }> {
  if (!server || !admin)
    throw new Error('PostgreSQL test server did not start (see the beforeAll error above)');
  const schema = `t_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = new URL(server.url);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { url: url.toString(), schema };
}

async function dropSchema(schema: string): Promise<void> {
  await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}

async function postgresHarness(): Promise<StoreHarness> {
  const { url, schema } = await freshSchema();
  return {
    location: { dialect: 'postgres', url },
    async open(options = {}) {
      const s = new PostgresStore({ connectionString: url, max: 10, now: options.now });
      await s.migrate();
      return s;
    },
    dispose: () => dropSchema(schema),
  };
}

describe.skipIf(skip)('PostgreSQL', () => {
  beforeAll(async () => {
    server = await startPostgres();
    admin = new pg.Pool({ connectionString: server.url, max: 2 });
  }, 120_000);

  afterAll(async () => {
    await admin?.end();
    await server?.stop();
  });

  storeContract('postgres', postgresHarness);

  describe('PostgreSQL specifics', () => {
    it('createStore uses DATABASE_URL, migrates once, and audit is append-only', async () => {
      const { url, schema } = await freshSchema();
      const [a, b] = await Promise.all([
        createStore({ dataDir: '/nonexistent', databaseUrl: url }),
        createStore({ dataDir: '/nonexistent', databaseUrl: url }),
      ]);
      try {
        expect(a.dialect).toBe('postgres');
        const pool = (a as PostgresStore).pool;
        expect((await pool.query('SELECT version FROM schema_migrations ORDER BY version')).rows).toEqual([
          { version: 1 },
          { version: 2 },
          { version: 3 },
          { version: 5 },
        ]);
        await a.appendAudit({
          ts: new Date().toISOString(),
          actor: 'x',
          action: 'y',
          outcome: 'ok',
          details: {},
        });
        await expect(pool.query("UPDATE audit SET actor = 'z'")).rejects.toThrow(/append-only/);
        await expect(pool.query('DELETE FROM audit')).rejects.toThrow(/append-only/);
        await b.createSession(newSession('s1'));
        expect((await a.getSession('s1'))?.id).toBe('s1');
      } finally {
        await a.close();
        await b.close();
        await dropSchema(schema);
      }
    });
  });
});
