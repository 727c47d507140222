// Applies pending SQLite migrations, each in its own IMMEDIATE transaction (which also
// serialises concurrent starters on the same file). Idempotent.
import { loadMigrations } from '../migrations/index.ts';
import { nowIso } from '../shared/time.ts';
import type { SqliteDb } from './db.ts';

export function migrateSqlite(db: SqliteDb): number[] {
  db.raw.exec(
    `CREATE TABLE IF NOT EXISTS schema_migrations (
       version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)`,
  );
  const applied: number[] = [];
  for (const m of loadMigrations('sqlite')) {
    db.transaction(() => {
      // re-checked inside the write lock: another process may have applied it meanwhile
      if (db.get('SELECT 1 AS x FROM schema_migrations WHERE version = ?', m.version)) return;
      db.raw.exec(m.sql);
      db.run(
        'INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)',
        m.version,
        m.name,
        m.checksum,
        nowIso(),
      );
      applied.push(m.version);
    });
  }
  return applied;
}
