// Memory per concurrently active `native` session: the server (own process, --expose-gc) is
// warmed up, measured after full GCs, then N sessions each get a run whose LLM stream the mock holds
// open (one small delta per second), each followed over WebSocket; measured again after full GCs.
import { createSession, sendMessage } from '../lib/api.ts';
import { type Mem, startServerProc } from '../lib/server-proc.ts';
import { pool, sleep, until } from '../lib/stats.ts';
import { startTimedMock } from '../lib/timed-mock.ts';
import { startWsClients } from '../lib/ws-clients.ts';

export interface MemoryResult {
  sessions: number;
  baseline: Mem;
  active: Mem;
  idle: Mem;
  perSessionRss: number;
  perSessionHeap: number;
  /** heapUsed + external (buffers, sockets' native memory that V8 knows of) */
  perSessionHeapExternal: number;
  idlePerSessionHeap: number;
}

export async function benchMemory(n: number, log: (s: string) => void): Promise<MemoryResult> {
  const mock = await startTimedMock({ intervalMs: 5, holdIntervalMs: 0, deltasPerStream: 3 });
  const server = await startServerProc(mock.url);
  try {
    // Warm-up: load every lazily imported module, JIT the hot paths, open the SQLite statements.
    mock.go();
    const warm = await pool(
      Array.from({ length: 10 }, (_, i) => i),
      5,
      (i) => createSession(server.url, `warm-${i}`),
    );
    const warmClients = await startWsClients(server.wsUrl, warm, 50);
    await pool(warm, 5, (id) => sendMessage(server.url, id, 'warm up'));
    await until(async () => (await warmClients.status()).terminal >= warm.length, 30_000, 'warm-up runs');
    await warmClients.close();
    await sleep(500);
    const baseline = await server.mem();

    mock.reset();
    mock.configure({ holdIntervalMs: 1000 });
    const ids = await pool(
      Array.from({ length: n }, (_, i) => i),
      16,
      (i) => createSession(server.url, `mem-${i}`),
    );
    const clients = await startWsClients(server.wsUrl, ids, 50);
    try {
      await pool(ids, 16, (id) => sendMessage(server.url, id, 'hold the stream open'));
      await mock.waitOpen(n, 60_000 + n * 50);
      await sleep(2_000);
      log(`  ${mock.open} runs active (LLM streams held open), ${clients.connections} WS connections`);
      const active = await server.mem();
      mock.go();
      await until(async () => (await clients.status()).terminal >= n, 60_000, `${n} runs to finish`, 100);
      await sleep(500);
      const idle = await server.mem();
      return {
        sessions: n,
        baseline,
        active,
        idle,
        perSessionRss: (active.rss - baseline.rss) / n,
        perSessionHeap: (active.heapUsed - baseline.heapUsed) / n,
        perSessionHeapExternal:
          (active.heapUsed + active.external - baseline.heapUsed - baseline.external) / n,
        idlePerSessionHeap: (idle.heapUsed - baseline.heapUsed) / n,
      };
    } finally {
      await clients.close();
    }
  } finally {
    await server.stop();
    await mock.close();
  }
}
