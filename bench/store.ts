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
  await timed('claimNextRun + finishRun, sequential', 2000, async () => {
    for (let i = 0; i < 2000; i++) {
      const r = await store.claimNextRun('bench', 30_000);
      if (r)
        await store.finishRun({
          runId: r.id,
          status: 'completed',
          usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
          event: {
            runId: r.id,
            type: 'run.completed',
            data: { stopReason: 'end_turn', usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 } },
          },
        });
    }
  });
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
