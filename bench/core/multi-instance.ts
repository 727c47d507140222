// Scale-out on PostgreSQL + Redis (docs/deployment.md "Several instances"): the same workload
// through one instance and through three sharing one database and one Redis.
//   throughput: N workflows POSTed by C concurrent clients spread over the instances (round robin)
//               → accepted/s (first POST → last 202) and completed/s (first POST → the last
//               workflow's completed_at in the database); runs execute meanwhile (mock LLM).
//   enqueue → start: workflows submitted one at a time with slots free: the run's created_at →
//               started_at (claimed by an instance; both written by the servers, one clock), and
//               for context the client's 202 → the mock LLM's request (bench clock).
//   ran twice?: from the database — workflows with attempts > 1, more than one run row or more
//               than one run.started event — and from the mock: LLM requests per workflow.
// Enqueue → start with the free slot on another instance: ./multi-instance-elsewhere.ts; live-event
// fan-out across instances: ./multi-instance-fanout.ts.
import os from 'node:os';
import { textsOf } from '../../src/mock-llm/helpers.ts';
import {
  type MessagesRequest,
  type MockLlm,
  type MockReply,
  startMockLlm,
  textReply,
} from '../../src/mock-llm/index.ts';
import {
  type Cluster,
  type CpuFigures,
  cpuBetween,
  type Infra,
  sampleCpu,
  startCluster,
  startInfra,
} from '../lib/cluster.ts';
import { percentile, sleep, until } from '../lib/stats.ts';
import { benchStartElsewhere, type ElsewhereFigures } from './multi-instance-elsewhere.ts';
import { benchFanout, type FanoutResult } from './multi-instance-fanout.ts';
import { benchIntake, type IntakeFigures } from './multi-instance-intake.ts';

export interface ThroughputFigures {
  workflows: number;
  clients: number;
  acceptedPerSec: number;
  completedPerSec: number;
  acceptMs: number;
  completeMs: number;
  /** POST → 202 as the clients saw it */
  postP50: number;
  postP99: number;
  failedPosts: number;
  notCompleted: number;
  cpu: CpuFigures;
  loadAvg: number;
}

export interface LatencyFigures {
  samples: number;
  /** runs.created_at → runs.started_at (the claim), ms */
  claimP50: number;
  claimP99: number;
  claimMax: number;
  /** 202 received → the mock LLM's request, ms (bench clock) */
  llmP50: number;
  llmP99: number;
}

export interface DuplicateCheck {
  workflows: number;
  /** workflows with attempts > 1, ≠ 1 run row, run attempts > 1 or > 1 run.started event */
  ranTwice: number;
  /** most LLM requests any one workflow caused (1: each asked the model once) */
  maxLlmRequests: number;
  /** runs executed per instance (worker id prefix) */
  perInstance: Record<string, number>;
}

export interface ClusterResult {
  instances: number;
  slotsPerInstance: number;
  throughput: ThroughputFigures;
  latency: LatencyFigures;
  check: DuplicateCheck;
}

export interface MultiInstanceResult {
  one: ClusterResult;
  three: ClusterResult;
  /** accepted/s with every run slot held (nothing executes meanwhile): one and three instances */
  intake: { one: IntakeFigures; three: IntakeFigures };
  /** enqueue → start when the accepting instance is full and another one has a free slot */
  elsewhere: ElsewhereFigures;
  fanout: FanoutResult;
  /** accepted/s of three ÷ one, runs executing meanwhile */
  acceptRatio: number;
  /** the same, intake alone */
  intakeRatio: number;
  completeRatio: number;
}

export interface MultiInstanceSizes {
  workflows: number;
  clients: number;
  latencySamples: number;
  slots: number;
  fanoutSessions: number;
  fanoutMs: number;
}

const TAG = /<mi:([\w-]+)>/;
const TERMINAL = "('completed', 'failed', 'cancelled')";

/** The workflow tag in a model request (`<mi:TAG>` in the instructions), if any. */
export function tagOf(req: MessagesRequest): string | undefined {
  const first = req.messages?.find((m) => m.role === 'user');
  return first ? TAG.exec(textsOf(first.content).join('\n'))?.[1] : undefined;
}

/** A workflow whose tag contains `hold` keeps its run slot: its reply streams for minutes (cancel it). */
export function benchResponder(req: MessagesRequest): MockReply {
  return tagOf(req)?.includes('hold')
    ? textReply('x'.repeat(600), { chunkSize: 1, deltaDelayMs: 500 })
    : textReply('done');
}

/** The mock LLM answers every request at once; it records when each workflow's first request came. */
export class Model {
  readonly firstAt = new Map<string, number>();
  readonly count = new Map<string, number>();
  private waiters = new Map<string, () => void>();
  readonly mock: MockLlm;
  constructor(mock: MockLlm) {
    this.mock = mock;
    mock.onRequest((r) => {
      const at = performance.now();
      const tag = tagOf(r.body as MessagesRequest);
      if (!tag) return;
      this.count.set(tag, (this.count.get(tag) ?? 0) + 1);
      if (!this.firstAt.has(tag)) this.firstAt.set(tag, at);
      this.waiters.get(tag)?.();
      this.waiters.delete(tag);
    });
  }
  requested(tag: string, timeoutMs: number): Promise<number> {
    const at = this.firstAt.get(tag);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`no LLM request for ${tag} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.set(tag, () => {
        clearTimeout(t);
        resolve(this.firstAt.get(tag)!);
      });
    });
  }
}

export async function post(base: string, tag: string): Promise<{ status: number; id?: string }> {
  const res = await fetch(`${base}/api/workflows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'custom', instructions: `bench task <mi:${tag}>` }),
  });
  const text = await res.text();
  return { status: res.status, id: res.status === 202 ? (JSON.parse(text) as { id: string }).id : undefined };
}

export async function postOk(base: string, tag: string): Promise<string> {
  const r = await post(base, tag);
  if (r.status !== 202 || !r.id) throw new Error(`POST /api/workflows → ${r.status}`);
  return r.id;
}

/** What `postWorkflows` saw: POST latencies, refusals, and when the last 202 arrived. */
export interface PostRound {
  t0: number;
  lastAccept: number;
  failed: number;
  lat: number[];
}

/**
 * Posts workflows `${label}-0` … `${label}-${n - 1}` from `clients` concurrent clients; each client
 * sticks to one instance (client k to `urls[k % urls.length]`), as behind a load balancer.
 */
export async function postWorkflows(
  urls: string[],
  label: string,
  n: number,
  clients: number,
): Promise<PostRound> {
  const t0 = performance.now();
  let next = 0;
  let failed = 0;
  let lastAccept = t0;
  const lat: number[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, k) => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const s = performance.now();
        const r = await post(urls[k % urls.length]!, `${label}-${i}`).catch(() => ({ status: 0 }));
        const e = performance.now();
        lat.push(e - s);
        if (r.status === 202) lastAccept = Math.max(lastAccept, e);
        else failed++;
      }
    }),
  );
  return { t0, lastAccept, failed, lat };
}

async function counts(c: Cluster): Promise<{ total: number; done: number }> {
  const r = await c.db.query<{ total: string; done: string }>(
    `SELECT count(*) AS total, count(*) FILTER (WHERE status IN ${TERMINAL}) AS done FROM workflows`,
  );
  return { total: Number(r.rows[0]!.total), done: Number(r.rows[0]!.done) };
}

/** Waits until every workflow but `unfinished` (held ones) is terminal. */
export async function allTerminal(c: Cluster, timeoutMs: number, unfinished = 0): Promise<void> {
  await until(
    async () => {
      const n = await counts(c);
      return n.done >= n.total - unfinished;
    },
    timeoutMs,
    'every workflow to reach a terminal state',
    25,
  );
}

async function throughput(
  infra: Infra,
  c: Cluster,
  n: number,
  clients: number,
  label: string,
  log: (s: string) => void,
): Promise<ThroughputFigures> {
  const urls = c.instances.map((s) => s.url);
  // warm-up: connections, JIT, prepared statements on every instance
  await Promise.all(
    Array.from({ length: clients }, (_, i) => postOk(urls[i % urls.length]!, `${label}-warm-${i}`)),
  );
  await allTerminal(c, 60_000);
  const cpu0 = await sampleCpu(infra, c.instances);
  const startEpoch = Date.now();
  const { t0, lastAccept, failed, lat } = await postWorkflows(urls, label, n, clients);
  const acceptMs = lastAccept - t0;
  await allTerminal(c, 120_000 + n * 100);
  const cpu1 = await sampleCpu(infra, c.instances);
  const loadAvg = os.loadavg()[0] ?? 0;
  const r = await c.db.query<{ last: string; not_ok: string }>(
    `SELECT extract(epoch FROM max(completed_at)) * 1000 AS last,
            count(*) FILTER (WHERE status <> 'completed') AS not_ok FROM workflows`,
  );
  const completeMs = Number(r.rows[0]!.last) - startEpoch;
  const accepted = n - failed;
  log(
    `  ${label}: ${accepted}/${n} accepted in ${(acceptMs / 1000).toFixed(2)} s, all terminal after ${(completeMs / 1000).toFixed(2)} s`,
  );
  return {
    workflows: n,
    clients,
    acceptedPerSec: accepted / (acceptMs / 1000),
    completedPerSec: accepted / (completeMs / 1000),
    acceptMs,
    completeMs,
    postP50: percentile(lat, 50),
    postP99: percentile(lat, 99),
    failedPosts: failed,
    notCompleted: Number(r.rows[0]!.not_ok),
    cpu: cpuBetween(cpu0, cpu1),
    loadAvg,
  };
}

/** One workflow at a time, each to the next instance in turn, every slot free. */
async function latency(c: Cluster, model: Model, samples: number, label: string): Promise<LatencyFigures> {
  const llm: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < samples + 3; i++) {
    const tag = `${label}-lat-${i}`;
    const id = await postOk(c.instances[i % c.instances.length]!.url, tag);
    const accepted = performance.now();
    const at = await model.requested(tag, 30_000);
    // the first three warm the path up
    if (i >= 3) {
      llm.push(Math.max(0, at - accepted));
      ids.push(id);
    }
    await allTerminal(c, 30_000);
  }
  const claim = await claimLatencies(c, ids);
  return {
    samples,
    claimP50: percentile(claim, 50),
    claimP99: percentile(claim, 99),
    claimMax: percentile(claim, 100),
    llmP50: percentile(llm, 50),
    llmP99: percentile(llm, 99),
  };
}

/** runs.created_at → runs.started_at (ms) of the workflows' runs. */
export async function claimLatencies(c: Cluster, workflowIds: string[]): Promise<number[]> {
  const r = await c.db.query<{ ms: string }>(
    `SELECT extract(epoch FROM r.started_at - r.created_at) * 1000 AS ms
       FROM workflows w JOIN runs r ON r.session_id = w.session_id WHERE w.id = ANY($1::text[])`,
    [workflowIds],
  );
  return r.rows.map((x) => Number(x.ms));
}

async function duplicates(c: Cluster, model: Model, label: string): Promise<DuplicateCheck> {
  const r = await c.db.query<{ id: string; bad: boolean }>(
    `SELECT w.id,
            w.attempts <> 1
            OR (SELECT count(*) FROM runs r WHERE r.session_id = w.session_id) <> 1
            OR (SELECT max(r.attempts) FROM runs r WHERE r.session_id = w.session_id) <> 1
            OR (SELECT count(*) FROM events e WHERE e.session_id = w.session_id AND e.type = 'run.started') <> 1
            AS bad
       FROM workflows w`,
  );
  const per = await c.db.query<{ inst: string; n: string }>(
    "SELECT split_part(worker_id, '-', 1) AS inst, count(*) AS n FROM runs GROUP BY 1 ORDER BY 1",
  );
  return {
    workflows: r.rows.length,
    ranTwice: r.rows.filter((x) => x.bad).length,
    maxLlmRequests: Math.max(
      0,
      ...[...model.count].filter(([tag]) => tag.startsWith(`${label}-`)).map(([, k]) => k),
    ),
    perInstance: Object.fromEntries(per.rows.map((x) => [x.inst, Number(x.n)])),
  };
}

async function measureCluster(
  infra: Infra,
  model: Model,
  count: number,
  sizes: MultiInstanceSizes,
  log: (s: string) => void,
): Promise<ClusterResult> {
  // instance names without '-': the worker id is `<INSTANCE_ID>-<time>-<random>`
  const names = Array.from({ length: count }, (_, i) => `inst${i + 1}`);
  const c = await startCluster(infra, model.mock.url, names, { MAX_CONCURRENT_RUNS: String(sizes.slots) });
  try {
    log(`  ${count} instance${count === 1 ? '' : 's'} up (${sizes.slots} run slots each)`);
    const label = `c${count}`;
    const t = await throughput(infra, c, sizes.workflows, sizes.clients, label, log);
    const l = await latency(c, model, sizes.latencySamples, label);
    const check = await duplicates(c, model, label);
    return { instances: count, slotsPerInstance: sizes.slots, throughput: t, latency: l, check };
  } finally {
    await c.stop();
  }
}

export async function benchMultiInstance(
  sizes: MultiInstanceSizes,
  log: (s: string) => void,
): Promise<MultiInstanceResult> {
  const infra = await startInfra();
  try {
    const mock = await startMockLlm({ maxRecorded: 0, responder: benchResponder });
    const model = new Model(mock);
    try {
      const one = await measureCluster(infra, model, 1, sizes, log);
      await sleep(500);
      const three = await measureCluster(infra, model, 3, sizes, log);
      await sleep(500);
      const intake = {
        one: await benchIntake(infra, model, 1, sizes.workflows, sizes.clients),
        three: await benchIntake(infra, model, 3, sizes.workflows, sizes.clients),
      };
      log(
        `  intake alone: ${intake.one.acceptedPerSec.toFixed(0)}/s → ${intake.three.acceptedPerSec.toFixed(0)}/s`,
      );
      const elsewhere = await benchStartElsewhere(infra, model, sizes.latencySamples);
      const fanout = await benchFanout(infra, sizes.fanoutSessions, sizes.fanoutMs, log);
      return {
        one,
        three,
        intake,
        elsewhere,
        fanout,
        acceptRatio: three.throughput.acceptedPerSec / one.throughput.acceptedPerSec,
        intakeRatio: intake.three.acceptedPerSec / intake.one.acceptedPerSec,
        completeRatio: three.throughput.completedPerSec / one.throughput.completedPerSec,
      };
    } finally {
      await mock.close();
    }
  } finally {
    await infra.close();
  }
}
