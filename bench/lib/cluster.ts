// A throwaway PostgreSQL + redis-server (the same helpers the multi-instance tests use) and server
// instances on them, each in its own process (bench/lib/server-child.ts: the createRuntime of
// `npm start`), for the multi-instance benchmark. Every cluster gets a fresh database.
import pg from 'pg';
import {
  freshDatabase,
  startInfra as startTestInfra,
  type Infra as TestInfra,
} from '../../test/multi-instance/helpers.ts';
import { findPostmaster, findRedisServer, machineTicks, schedStat, treeCpuSeconds } from './proc-cpu.ts';
import { type ServerProc, startServerProc } from './server-proc.ts';

export interface Infra extends TestInfra {
  pgPid: number | undefined;
  redisPid: number | undefined;
}

/** PostgreSQL with fsync on (a 202 means the workflow is on disk, as in production) and Redis. */
export async function startInfra(): Promise<Infra> {
  const infra = await startTestInfra({ durable: process.env.BENCH_PG_FSYNC !== '0' });
  return {
    ...infra,
    pgPid: findPostmaster(Number(new URL(infra.pg.url).port)),
    redisPid: findRedisServer(infra.redis.port),
  };
}

export interface Cluster {
  instances: ServerProc[];
  names: string[];
  databaseUrl: string;
  /** A connection of the bench's own to the shared database (checks, progress). */
  db: pg.Client;
  stop(): Promise<void>;
}

/**
 * Starts `count` instances on one fresh database, one after the other (the first runs the
 * migrations). `extra` is added to every instance's environment.
 */
export async function startCluster(
  infra: Infra,
  llmUrl: string,
  names: string[],
  extra: Record<string, string> = {},
): Promise<Cluster> {
  const databaseUrl = await freshDatabase(infra.pg.url, 'bench');
  const instances: ServerProc[] = [];
  const db = new pg.Client({ connectionString: databaseUrl });
  const stop = async (): Promise<void> => {
    await Promise.all(instances.map((s) => s.stop()));
    await db.end().catch(() => undefined);
  };
  try {
    await db.connect();
    for (const name of names) instances.push(await startInstance(infra, databaseUrl, llmUrl, name, extra));
  } catch (err) {
    await stop();
    throw err;
  }
  return { instances, names, databaseUrl, db, stop };
}

export function startInstance(
  infra: Infra,
  databaseUrl: string,
  llmUrl: string,
  name: string,
  extra: Record<string, string> = {},
): Promise<ServerProc> {
  return startServerProc(llmUrl, {
    DATABASE_URL: databaseUrl,
    REDIS_URL: infra.redis.url,
    INSTANCE_ID: name,
    ...extra,
  });
}

export interface CpuSample {
  at: number;
  /** per instance: process CPU µs and the child's clock */
  instances: Array<{ userUs: number; systemUs: number; at: number }>;
  /** main-thread scheduler statistics per instance */
  sched: Array<{ runNs: number; waitNs: number }>;
  pgS: number;
  redisS: number;
  bench: NodeJS.CpuUsage;
  machine: { busy: number; total: number };
}

export interface CpuFigures {
  /** % of one core over the window, per instance */
  instancesPct: number[];
  /** per instance: % of the window its event loop was runnable but waiting for a CPU */
  instancesWaitPct: number[];
  pgPct: number;
  redisPct: number;
  /** the bench process: HTTP clients and the mock LLM */
  benchPct: number;
  /** whole machine, % of all cores */
  machineBusyPct: number;
}

export async function sampleCpu(infra: Infra, instances: ServerProc[]): Promise<CpuSample> {
  return {
    at: performance.now(),
    instances: await Promise.all(instances.map((s) => s.cpu())),
    sched: instances.map((s) => schedStat(s.pid)),
    pgS: infra.pgPid ? treeCpuSeconds(infra.pgPid) : Number.NaN,
    redisS: infra.redisPid ? treeCpuSeconds(infra.redisPid) : Number.NaN,
    bench: process.cpuUsage(),
    machine: machineTicks(),
  };
}

export function cpuBetween(a: CpuSample, b: CpuSample): CpuFigures {
  const secs = (b.at - a.at) / 1000;
  const pct = (s: number): number => (100 * s) / secs;
  return {
    instancesPct: b.instances.map((x, i) => {
      const y = a.instances[i]!;
      return (100 * (x.userUs - y.userUs + x.systemUs - y.systemUs)) / 1000 / (x.at - y.at);
    }),
    instancesWaitPct: b.sched.map((x, i) => pct((x.waitNs - a.sched[i]!.waitNs) / 1e9)),
    pgPct: pct(b.pgS - a.pgS),
    redisPct: pct(b.redisS - a.redisS),
    benchPct: pct((b.bench.user - a.bench.user + b.bench.system - a.bench.system) / 1e6),
    machineBusyPct:
      (100 * (b.machine.busy - a.machine.busy)) / Math.max(1, b.machine.total - a.machine.total),
  };
}
