// Applies pending PostgreSQL migrations. Several instances may start at once: a session-level
// advisory lock serialises them, and each migration runs in its own transaction together
// with its schema_migrations row. Idempotent.
import type pg from 'pg';
import { loadMigrations } from '../migrations/index.ts';
import { nowIso } from '../shared/time.ts';

/** Arbitrary constant shared by every instance ("duyetbot" migrations). */
const LOCK_KEY = 7_345_112_061;

export async function migratePostgres(pool: pg.Pool): Promise<number[]> {
  const migrations = loadMigrations('postgres');
  const client = await pool.connect();
  const applied: number[] = [];
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`,
      );
      const done = new Set(
        (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
          (r) => r.version,
        ),
      );
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query(
            'INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)',
            [m.version, m.name, m.checksum, nowIso()],
          );
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new Error(`migration ${m.version}_${m.name} failed: ${(error as Error).message}`, {
            cause: error,
          });
        }
        applied.push(m.version);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch((e: Error) => {
        broken = e;
      });
    }
  } finally {
    client.release(broken);
  }
  return applied;
}
