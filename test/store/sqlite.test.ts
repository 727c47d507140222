import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.ts';
import { loadMigrations } from '../../src/store/migrations/index.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { newSession, type StoreHarness, storeContract } from './contract.ts';

async function sqliteHarness(): Promise<StoreHarness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'store-sqlite-'));
  return {
    location: { dialect: 'sqlite', file: path.join(dir, 'agent.db') },
    async open(options = {}) {
      const s = new SqliteStore(path.join(dir, 'agent.db'), { now: options.now });
      await s.migrate();
      return s;
    },
    async dispose() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

storeContract('sqlite', sqliteHarness);

describe('SQLite specifics', () => {
  const dirs: string[] = [];
  const tmp = async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'store-sqlite-'));
    dirs.push(d);
    return d;
  };
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('createStore makes <dataDir>/agent.db (mkdir -p), WAL, synchronous=FULL, foreign keys on', async () => {
    const dataDir = path.join(await tmp(), 'a', 'b');
    const store = await createStore({ dataDir, databaseUrl: undefined });
    expect(store.dialect).toBe('sqlite');
    expect(existsSync(path.join(dataDir, 'agent.db'))).toBe(true);
    const db = (store as SqliteStore).db;
    expect(db.get('PRAGMA journal_mode')?.journal_mode).toBe('wal');
    expect(db.get('PRAGMA synchronous')?.synchronous).toBe(2); // FULL
    expect(db.get('PRAGMA foreign_keys')?.foreign_keys).toBe(1);
    expect(Number(db.get('PRAGMA busy_timeout')?.timeout)).toBeGreaterThan(0);
    expect(db.all('SELECT version FROM schema_migrations')).toEqual(
      // every migration file, once (other branches add theirs)
      loadMigrations('sqlite').map((m) => ({ version: m.version })),
    );
    await store.close();
    const again = await createStore({ dataDir });
    expect((again as SqliteStore).db.all('SELECT version FROM schema_migrations')).toEqual(
      // every migration file, once (other branches add theirs)
      loadMigrations('sqlite').map((m) => ({ version: m.version })),
    );
    await again.close();
  });

  it('audit is append-only', async () => {
    const store = await createStore({ dataDir: await tmp() });
    await store.appendAudit({
      ts: new Date().toISOString(),
      actor: 'a',
      action: 'x',
      outcome: 'ok',
      details: {},
    });
    const db = (store as SqliteStore).db;
    expect(() => db.run("UPDATE audit SET actor = 'b'")).toThrow(/append-only/);
    expect(() => db.run('DELETE FROM audit')).toThrow(/append-only/);
    await store.close();
  });

  it('group commit: writes of one turn share a transaction, a failing write does not undo the others', async () => {
    const store = await createStore({ dataDir: await tmp() });
    const results = await Promise.allSettled([
      store.createSession(newSession('a')),
      store.createSession(newSession('a')), // duplicate id: fails alone
      store.createSession(newSession('b')),
      store.appendEvents('missing', [{ type: 'run.queued', data: { attempt: 1 } }]),
      store.appendEvents('b', [{ type: 'run.queued', data: { attempt: 1 } }]),
    ]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect((await store.getSession('a'))?.id).toBe('a');
    expect((await store.getSession('b'))?.lastSeq).toBe(1);
    await store.close();
  });

  it('close() commits queued writes; later writes are refused', async () => {
    const dir = await tmp();
    const store = await createStore({ dataDir: dir });
    const pending = store.createSession(newSession('late'));
    await store.close();
    await expect(pending).resolves.toMatchObject({ id: 'late' });
    await expect(store.createSession(newSession('x'))).rejects.toThrow(/closed/);
    const reopened = await createStore({ dataDir: dir });
    expect((await reopened.getSession('late'))?.id).toBe('late');
    await reopened.close();
  });

  it('an accepted workflow survives kill -9 of the process right after the promise resolved', async () => {
    const dir = await tmp();
    const script = path.join(import.meta.dirname, 'fixtures', 'create-workflows.ts');
    const child = spawn(process.execPath, [script, dir, '50'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const accepted: string[] = [];
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const line of lines) {
          if (line.startsWith('accepted ')) accepted.push(line.slice(9));
          if (accepted.length >= 20) {
            child.kill('SIGKILL');
          }
        }
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    expect(accepted.length).toBeGreaterThanOrEqual(20);
    const db = new DatabaseSync(path.join(dir, 'agent.db'));
    const ids = new Set(
      db
        .prepare('SELECT id FROM workflows')
        .all()
        .map((r) => r.id),
    );
    db.close();
    for (const id of accepted) expect(ids.has(id)).toBe(true);
    const store = await createStore({ dataDir: dir });
    const w = (await store.getWorkflow(accepted[0]!))!;
    expect(w).toMatchObject({ id: accepted[0], status: 'pending' });
    expect((await store.getRun(w.runId))?.status).toBe('queued');
    expect((await store.getSession(w.sessionId))?.workflowId).toBe(w.id);
    await store.close();
  });
});
