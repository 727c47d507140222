// Live-event fan-out across instances: N sessions run on instance B (every run is claimed by B
// before A even starts), a WebSocket client connected to A follows them, and for comparison one
// connected to B follows the same sessions. The timestamping mock (bench/lib/timed-mock.ts) writes
// a delta stamped with its emit time every `intervalMs` on every stream; delay = receive − emit.
// The A path: mock → B (parse, store in PostgreSQL, publish on Redis) → A (Redis subscriber →
// its followers) → client. The B path skips Redis.
import os from 'node:os';
import { createSession, sendMessage } from '../lib/api.ts';
import {
  type CpuFigures,
  cpuBetween,
  type Infra,
  sampleCpu,
  startCluster,
  startInstance,
} from '../lib/cluster.ts';
import { percentile, pool, sleep, until } from '../lib/stats.ts';
import { startTimedMock } from '../lib/timed-mock.ts';
import { startWsClients } from '../lib/ws-clients.ts';

export interface PathFigures {
  received: number;
  p50: number;
  p99: number;
  max: number;
}

export interface FanoutResult {
  sessions: number;
  intervalMs: number;
  durationMs: number;
  emitted: number;
  /** client on A following runs executed on B */
  cross: PathFigures;
  /** client on B following the same runs */
  local: PathFigures;
  /** runs of the followed sessions executed by B (all of them, by construction) */
  runsOnB: number;
  /** A, B (in that order) */
  cpu: CpuFigures;
  loadAvg: number;
}

const PER_CONN = 50;

export async function benchFanout(
  infra: Infra,
  n: number,
  durationMs: number,
  log: (s: string) => void,
  intervalMs = 50,
): Promise<FanoutResult> {
  const mock = await startTimedMock({ intervalMs, holdIntervalMs: 0, deltasPerStream: Infinity });
  const c = await startCluster(infra, mock.url, ['fanB']);
  try {
    const b = c.instances[0]!;
    const ids = await pool(
      Array.from({ length: n }, (_, i) => i),
      8,
      (i) => createSession(b.url, `fanout-${i}`),
    );
    await pool(ids, 8, (id) => sendMessage(b.url, id, 'stream please'));
    await mock.waitOpen(n, 60_000 + n * 50);
    // every run is B's now: A starts with nothing left to claim
    const a = await startInstance(infra, c.databaseUrl, mock.url, 'fanA');
    c.instances.unshift(a);
    const onA = await startWsClients(a.wsUrl, ids, PER_CONN);
    const onB = await startWsClients(b.wsUrl, ids, PER_CONN);
    try {
      await sleep(300);
      log(`  fan-out: ${n} runs on B, followed from A and from B; streaming for ${durationMs} ms`);
      const cpu0 = await sampleCpu(infra, [a, b]);
      mock.go();
      await sleep(durationMs);
      const cpu1 = await sampleCpu(infra, [a, b]);
      const loadAvg = os.loadavg()[0] ?? 0;
      const emitted = mock.emitted;
      mock.finish();
      for (const cl of [onA, onB])
        await until(async () => (await cl.status()).terminal >= n, 60_000, `${n} runs to finish`, 50);
      await sleep(200);
      const fig = async (cl: typeof onA): Promise<PathFigures> => {
        const s = await cl.collect();
        return {
          received: s.delay.length,
          p50: percentile(s.delay, 50),
          p99: percentile(s.delay, 99),
          max: percentile(s.delay, 100),
        };
      };
      const runs = await c.db.query<{ n: string }>(
        "SELECT count(*) AS n FROM runs WHERE worker_id LIKE 'fanB-%' AND session_id = ANY($1::text[])",
        [ids],
      );
      return {
        sessions: n,
        intervalMs,
        durationMs,
        emitted,
        cross: await fig(onA),
        local: await fig(onB),
        runsOnB: Number(runs.rows[0]!.n),
        cpu: cpuBetween(cpu0, cpu1),
        loadAvg,
      };
    } finally {
      await onA.close();
      await onB.close();
    }
  } finally {
    await c.stop();
    await mock.close();
  }
}
