// Added streaming delay: the mock LLM writes a text delta stamped with its emit time → the server
// parses it, stores it (group commit) and fans it out → a WebSocket client in another process
// receives it. Delay = receive time − emit time, per delta (coalesced deltas carry every stamp).
// `auth`: the server has an API key; the HTTP calls carry it and the clients authenticate —
// `multiplexed` (perConn sessions per WebSocket, key on the upgrade) or `per-session` (one
// WebSocket per session, each opened with a ticket: the dashboard's shape).
import os from 'node:os';
import { createSession, sendMessage } from '../lib/api.ts';
import { startServerProc } from '../lib/server-proc.ts';
import { percentile, pool, sleep, until } from '../lib/stats.ts';
import { startTimedMock } from '../lib/timed-mock.ts';
import { startWsClients } from '../lib/ws-clients.ts';

/** The bench's API key when authentication is on (API_KEYS of the server under test). */
const BENCH_KEY = 'bench-api-key-0123456789abcdef0123456789abcdef';

export type StreamingShape = 'multiplexed' | 'per-session';

export interface StreamingResult {
  sessions: number;
  shape: StreamingShape;
  auth: boolean;
  connections: number;
  intervalMs: number;
  durationMs: number;
  emitted: number;
  received: number;
  p50: number;
  p99: number;
  max: number;
  /** server process CPU during the streaming window, % of one core */
  serverCpuPct: number;
  /** the bench process (mock LLM) and the WebSocket client process over the same window */
  mockCpuPct: number;
  clientCpuPct: number;
  /** 1-minute load average of the machine at the end of the window */
  loadAvg: number;
  wsFrames: number;
  failedRuns: number;
}

export async function benchStreaming(
  n: number,
  opts: {
    intervalMs: number;
    durationMs: number;
    perConn: number;
    log: (s: string) => void;
    auth?: boolean;
    shape?: StreamingShape;
  },
): Promise<StreamingResult> {
  const shape = opts.shape ?? 'multiplexed';
  const key = opts.auth ? BENCH_KEY : undefined;
  const mock = await startTimedMock({
    intervalMs: opts.intervalMs,
    holdIntervalMs: 0,
    deltasPerStream: Infinity,
  });
  const server = await startServerProc(mock.url, key ? { API_KEYS: key } : {});
  try {
    const ids = await pool(
      Array.from({ length: n }, (_, i) => i),
      16,
      (i) => createSession(server.url, `stream-${i}`, key),
    );
    const clients = await startWsClients(
      server.wsUrl,
      ids,
      shape === 'per-session' ? 1 : opts.perConn,
      key ? { key, mode: shape === 'per-session' ? 'ticket' : 'bearer', httpUrl: server.url } : undefined,
    );
    try {
      await pool(ids, 16, (id) => sendMessage(server.url, id, 'stream please', key));
      await mock.waitOpen(n, 60_000 + n * 50);
      await sleep(300);
      opts.log(
        `  ${n} runs active, ${clients.connections} WS connections${key ? ' (auth on)' : ''}; streaming for ${opts.durationMs} ms`,
      );
      const cpu0 = await server.cpu();
      const cl0 = await clients.cpu();
      const me0 = { c: process.cpuUsage(), at: performance.now() };
      mock.go();
      await sleep(opts.durationMs);
      const cpu1 = await server.cpu();
      const cl1 = await clients.cpu();
      const me1 = { c: process.cpuUsage(me0.c), at: performance.now() };
      const loadAvg = os.loadavg()[0] ?? 0;
      const emitted = mock.emitted;
      mock.finish();
      await until(async () => (await clients.status()).terminal >= n, 120_000, `${n} runs to finish`, 100);
      // the last deltas may still be in flight behind the terminal events of other sessions
      await sleep(200);
      const s = await clients.collect();
      const pct = (a: typeof cpu0, b: typeof cpu0): number =>
        (100 * (b.userUs - a.userUs + b.systemUs - a.systemUs)) / 1000 / (b.at - a.at);
      return {
        sessions: n,
        shape,
        auth: key !== undefined,
        connections: clients.connections,
        intervalMs: opts.intervalMs,
        durationMs: opts.durationMs,
        emitted,
        received: s.delay.length,
        p50: percentile(s.delay, 50),
        p99: percentile(s.delay, 99),
        max: percentile(s.delay, 100),
        serverCpuPct: pct(cpu0, cpu1),
        clientCpuPct: pct(cl0, cl1),
        mockCpuPct: (100 * (me1.c.user + me1.c.system)) / 1000 / (me1.at - me0.at),
        loadAvg,
        wsFrames: s.frames,
        failedRuns: s.failed,
      };
    } finally {
      await clients.close();
    }
  } finally {
    await server.stop();
    await mock.close();
  }
}
