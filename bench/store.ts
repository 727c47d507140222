// Store throughput, durability on (SQLite synchronous=FULL; PostgreSQL fsync=on).
//   node bench/store.ts            SQLite only
//   node bench/store.ts --pg       also a throwaway PostgreSQL (or PG_TEST_URL)
// Not a test: prints rates, asserts nothing.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PostgresStore } from '../src/store/postgres/store.ts';
import { SqliteStore } from '../src/store/sqlite/store.ts';
import type { Store } from '../src/store/types.ts';
import { startPostgres } from '../test/helpers/postgres.ts';
import { newRun, newSession, newWorkflow } from '../test/store/fixtures/records.ts';

const EVENTS = 10_000;

async function timed(label: string, n: number, fn: () => Promise<void>): Promise<void> {
  const t = performance.now();
  await fn();
  const s = (performance.now() - t) / 1000;
  console.log(`${label.padEnd(58)} ${String(Math.round(n / s)).padStart(8)}/s  (${n} in ${s.toFixed(2)} s)`);
}

/** Runs `n` calls of `fn`, at most `concurrency` in flight. */
async function pool(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

const delta = (i: number) => ({
  type: 'text.delta' as const,
  runId: 'r',
  data: { text: `token ${i} `.repeat(4) },
});

async function bench(name: string, store: Store): Promise<void> {
  console.log(`\n== ${name}`);
  await store.createSession(newSession('one'));
  await timed(`appendEvents, 1 event/call, sequential (1 session)`, EVENTS, async () => {
    for (let i = 0; i < EVENTS; i++) await store.appendEvents('one', [delta(i)]);
  });
  const sessions = 1000;
  for (let s = 0; s < sessions; s++) await store.createSession(newSession(`s${s}`));
  await timed(`appendEvents, 1 event/call, ${sessions} sessions concurrently`, EVENTS, async () => {
    await Promise.all(
      Array.from({ length: sessions }, async (_, s) => {
        for (let i = 0; i < EVENTS / sessions; i++) await store.appendEvents(`s${s}`, [delta(i)]);
      }),
    );
  });
  await timed(`appendEventBatches, 100 sessions × 5 events per call`, EVENTS * 5, async () => {
    for (let k = 0; k < EVENTS / 100; k++) {
      await store.appendEventBatches(
        Array.from({ length: 100 }, (_, s) => ({
          sessionId: `s${(k * 100 + s) % sessions}`,
          events: [0, 1, 2, 3, 4].map(delta),
        })),
      );
    }
  });
  const wf = (prefix: string, i: number) => {
    const w = newWorkflow(`${prefix}${i}`, { idempotencyKey: `${prefix}-k${i}` });
    return store.createWorkflow(
      w,
      newSession(w.sessionId, { workflowId: w.id }),
      newRun(w.runId, w.sessionId, { workflowId: w.id }),
      [],
    );
  };
  await timed('createWorkflow, sequential', 2000, async () => {
    for (let i = 0; i < 2000; i++) await wf('seq', i);
  });
  await timed('createWorkflow, 64 requests in flight', 5000, () => pool(5000, 64, (i) => wf('con', i)));
  const zero = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
  const claimAndFinish = async (n: number, opts: Parameters<Store['claimNextRun']>[2] = {}) => {
    for (let i = 0; i < n; i++) {
      const r = await store.claimNextRun('bench', 30_000, opts);
      if (r)
        await store.finishRun({
          runId: r.id,
          status: 'completed',
          usage: zero,
          event: { runId: r.id, type: 'run.completed', data: { stopReason: 'end_turn', usage: zero } },
        });
    }
  };
  await timed('claimNextRun + finishRun, sequential', 2000, () => claimAndFinish(2000));
  // Fair claiming across credentials (docs/api.md §10): 50 credentials with queued runs.
  const creds = 50;
  for (let i = 0; i < 4000; i++) {
    await store.createSession(newSession(`fair${i}`));
    await store.createRun(newRun(`fair${i}-r`, `fair${i}`, { credential: `key:${i % creds}` }));
  }
  await timed(`claimNextRun + finishRun, ${creds} credentials queued`, 2000, () => claimAndFinish(2000));
  await timed(`… with MAX_RUNS_PER_KEY=2`, 2000, () => claimAndFinish(2000, { maxRunsPerKey: 2 }));
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'store-bench-'));
try {
  const sqlite = new SqliteStore(path.join(dir, 'agent.db'));
  await sqlite.migrate();
  await bench(`SQLite (WAL, synchronous=FULL) in ${dir}`, sqlite);
  await sqlite.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}

if (process.argv.includes('--pg')) {
  const server = await startPostgres({ durable: true });
  try {
    const store = new PostgresStore({ connectionString: server.url, max: 20 });
    await store.migrate();
    await bench('PostgreSQL (fsync=on, synchronous_commit=on, pool 20)', store);
    await store.close();
  } finally {
    await server.stop();
  }
}
