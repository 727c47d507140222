// Intake alone: accepted/s when no run executes meanwhile, so the instances' CPU goes to accepting
// (in ./multi-instance.ts the runs of the accepted workflows compete with intake for the same
// cores, and three instances run three times as many at once). Every instance has one run slot,
// held by a workflow whose reply streams for minutes; instances start one after the other, each
// taking its own holder, so no holder is claimed by another instance. Then N workflows from C
// clients, each client bound to one instance: they are stored and queued, none starts.
import os from 'node:os';
import {
  type Cluster,
  type CpuFigures,
  cpuBetween,
  type Infra,
  sampleCpu,
  startCluster,
  startInstance,
} from '../lib/cluster.ts';
import { percentile } from '../lib/stats.ts';
import { type Model, postOk, postWorkflows } from './multi-instance.ts';

export interface IntakeFigures {
  instances: number;
  workflows: number;
  clients: number;
  acceptedPerSec: number;
  postP50: number;
  postP99: number;
  failedPosts: number;
  cpu: CpuFigures;
  loadAvg: number;
}

async function holdEverySlot(infra: Infra, model: Model, names: string[]): Promise<Cluster> {
  const c = await startCluster(infra, model.mock.url, names.slice(0, 1), { MAX_CONCURRENT_RUNS: '1' });
  try {
    for (const [i, name] of names.entries()) {
      if (i > 0) {
        c.instances.push(
          await startInstance(infra, c.databaseUrl, model.mock.url, name, { MAX_CONCURRENT_RUNS: '1' }),
        );
      }
      const tag = `intake-${names.length}-hold-${i}`;
      await postOk(c.instances[i]!.url, tag);
      await model.requested(tag, 30_000);
    }
    return c;
  } catch (err) {
    await c.stop();
    throw err;
  }
}

export async function benchIntake(
  infra: Infra,
  model: Model,
  count: number,
  n: number,
  clients: number,
): Promise<IntakeFigures> {
  const names = Array.from({ length: count }, (_, i) => `intake${i + 1}`);
  const c = await holdEverySlot(infra, model, names);
  try {
    const urls = c.instances.map((s) => s.url);
    const label = `intake-${count}`;
    await Promise.all(
      Array.from({ length: clients }, (_, i) => postOk(urls[i % urls.length]!, `${label}-warm-${i}`)),
    );
    const cpu0 = await sampleCpu(infra, c.instances);
    const { t0, lastAccept: last, failed, lat } = await postWorkflows(urls, label, n, clients);
    const cpu1 = await sampleCpu(infra, c.instances);
    return {
      instances: count,
      workflows: n,
      clients,
      acceptedPerSec: (n - failed) / ((last - t0) / 1000),
      postP50: percentile(lat, 50),
      postP99: percentile(lat, 99),
      failedPosts: failed,
      cpu: cpuBetween(cpu0, cpu1),
      loadAvg: os.loadavg()[0] ?? 0,
    };
  } finally {
    await c.stop();
  }
}
