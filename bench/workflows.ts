// Benchmark probe (not a test): workflow intake and crash recovery on embedded SQLite with
// durability on (WAL, synchronous=FULL; a 202 means the workflow is on disk).
//  1. accepted/s: N submissions over HTTP from C concurrent keep-alive clients (bearer auth),
//     MAX_CONCURRENT_RUNS=1 and a mock LLM so execution does not dominate.
//  2. recovery: a running workflow, `kill -9`, restart on the same DATA_DIR → time until the
//     workflow is running again (restart + re-claim), and until /health answers.
// Usage: node bench/workflows.ts [--n 5000] [--clients 20] [--blocked]
import { byMarker, scripted, startMockLlm, textReply, toolCall } from '../src/mock-llm/index.ts';
import { startChildServer } from '../test/helpers/child-server.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const N = arg('n', 5000);
const CLIENTS = arg('clients', 20);
const KEY = 'bench-key';

const mock = await startMockLlm({
  responder: byMarker(
    { slow: scripted([toolCall('bash', { command: 'sleep 20' }), textReply('slept')]) },
    () => textReply('done'),
  ),
});
const server = await startChildServer({
  env: {
    ANTHROPIC_BASE_URL: mock.url,
    API_KEYS: KEY,
    MAX_CONCURRENT_RUNS: '1',
    RATE_LIMIT_PER_MINUTE: '100000000',
    LOG_LEVEL: 'error',
    RUN_LEASE_MS: '30000',
  },
});
const headers = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' };
const post = (body: unknown) =>
  fetch(`${server.url}/api/workflows`, { method: 'POST', headers, body: JSON.stringify(body) });
const get = async <T>(p: string): Promise<T> =>
  (await (await fetch(server.url + p, { headers })).json()) as T;

try {
  // --blocked: a slow workflow holds the only run slot, so the figure is intake alone; default:
  // the queued workflows execute (fast mock replies) while the intake runs.
  let blocker: string | undefined;
  if (process.argv.includes('--blocked')) {
    const r = await post({ type: 'custom', instructions: '[[script:slow]] hold the slot', priority: 'high' });
    blocker = ((await r.json()) as { id: string }).id;
  }
  // warm-up (JIT, connections)
  await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) =>
      post({ type: 'custom', instructions: `warm ${i}` }).then((r) => r.arrayBuffer()),
    ),
  );

  let next = 0;
  let failed = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (;;) {
        const i = next++;
        if (i >= N) return;
        const s = performance.now();
        const res = await post({
          type: 'custom',
          instructions: `bench workflow ${i}`,
          priority: (['low', 'medium', 'high'] as const)[i % 3],
          metadata: { i },
        });
        await res.arrayBuffer();
        latencies.push(performance.now() - s);
        if (res.status !== 202) failed++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(1);
  console.log(
    `intake: ${N} workflows, ${CLIENTS} clients: ${(N / secs).toFixed(0)} accepted/s (${secs.toFixed(2)} s), non-202: ${failed}`,
  );
  console.log(`        latency ms p50 ${pct(50)} p95 ${pct(95)} p99 ${pct(99)} max ${pct(100)}`);

  // recovery after kill -9 (the queue still holds the pending bench workflows)
  const wf = blocker
    ? { id: blocker }
    : ((await (
        await post({ type: 'custom', instructions: '[[script:slow]] recover me', priority: 'high' })
      ).json()) as { id: string });
  type Ev = { type: string; data: { attempt?: number } };
  const startedAttempt = async (n: number) =>
    (await get<{ items: Ev[] }>(`/api/workflows/${wf.id}/events?after=0&limit=1000`)).items.some(
      (e) => e.type === 'run.started' && e.data.attempt === n,
    );
  const until = async (f: () => Promise<boolean>, ms = 120_000) => {
    const end = Date.now() + ms;
    while (!(await f().catch(() => false))) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  await until(() => startedAttempt(1));
  const pending = (await get<{ items: unknown[] }>('/api/workflows?status=pending&limit=100')).items.length;
  const k0 = performance.now();
  await server.kill('SIGKILL');
  const killed = performance.now();
  await server.restart();
  const healthy = performance.now();
  await until(() => startedAttempt(2));
  const running = performance.now();
  console.log(
    `recovery: kill -9 → /health 200 in ${(healthy - k0).toFixed(0)} ms; → workflow running again (attempt 2) in ${(running - k0).toFixed(0)} ms (re-claim after health: ${(running - healthy).toFixed(0)} ms; kill itself ${(killed - k0).toFixed(0)} ms; ${pending >= 100 ? '≥100' : pending} workflows still pending in the DB)`,
  );
} finally {
  await server.close();
  await mock.close();
}
