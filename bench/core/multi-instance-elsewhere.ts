// Enqueue → start when the instance that accepted the workflow is full and another instance has a
// free slot. Instance `full` (MAX_CONCURRENT_RUNS=1) starts alone and takes a workflow that holds
// its one slot (a reply streaming for minutes); then instance `free` starts with free slots, and
// workflows are submitted to `full` one at a time: each is started by `free`, which learns of it
// only by its own means (today: polling the queue every 500 ms). Figure: runs.created_at →
// runs.started_at from the database, as in ./multi-instance.ts.
import { type Infra, startCluster, startInstance } from '../lib/cluster.ts';
import { percentile, sleep } from '../lib/stats.ts';
import { allTerminal, claimLatencies, type Model, postOk } from './multi-instance.ts';

export interface ElsewhereFigures {
  samples: number;
  p50: number;
  p99: number;
  max: number;
  /** samples whose run the free instance started (all, unless the full one freed up) */
  startedByFree: number;
}

export async function benchStartElsewhere(
  infra: Infra,
  model: Model,
  samples: number,
): Promise<ElsewhereFigures> {
  const c = await startCluster(infra, model.mock.url, ['full'], { MAX_CONCURRENT_RUNS: '1' });
  try {
    const full = c.instances[0]!;
    const holder = await postOk(full.url, 'elsewhere-hold');
    await model.requested('elsewhere-hold', 30_000);
    c.instances.push(
      await startInstance(infra, c.databaseUrl, model.mock.url, 'free', { MAX_CONCURRENT_RUNS: '8' }),
    );
    const ids: string[] = [];
    for (let i = 0; i < samples + 2; i++) {
      const tag = `elsewhere-${i}`;
      // a random phase against the free instance's polling
      await sleep(Math.random() * 500);
      const id = await postOk(full.url, tag);
      await model.requested(tag, 30_000);
      await allTerminal(c, 30_000, 1);
      // the first two warm the free instance up
      if (i >= 2) ids.push(id);
    }
    const ms = await claimLatencies(c, ids);
    const by = await c.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM workflows w JOIN runs r ON r.session_id = w.session_id
        WHERE w.id = ANY($1::text[]) AND r.worker_id LIKE 'free-%'`,
      [ids],
    );
    await fetch(`${full.url}/api/workflows/${holder}/cancel`, { method: 'POST' }).then((r) =>
      r.arrayBuffer(),
    );
    await allTerminal(c, 30_000);
    return {
      samples,
      p50: percentile(ms, 50),
      p99: percentile(ms, 99),
      max: percentile(ms, 100),
      startedByFree: Number(by.rows[0]!.n),
    };
  } finally {
    await c.stop();
  }
}
