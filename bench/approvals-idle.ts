// What tool calls waiting for approval (docs/api.md §10) cost the server while nobody decides:
// N native sessions each stop at a `git push` under `policy.approve: ["git.push"]`; the server
// (own process, --expose-gc, embedded SQLite) is measured after full GCs before and after, and its
// CPU time over an idle window with and without the waiting approvals. A control series (N plain
// sessions whose runs completed) is measured in between, so the figures are those of waiting, not
// of N more sessions having run. It also checks that other runs still get through while they wait
// (MAX_CONCURRENT_RUNS is far below N).
//
//   node bench/approvals-idle.ts [--n 100] [--idle-ms 10000] [--slots 4]
import { parseArgs } from 'node:util';
import { scripted, startMockLlm, textReply, toolCall } from '../src/mock-llm/index.ts';
import { call } from './lib/api.ts';
import { type Mem, startServerProc } from './lib/server-proc.ts';
import { fmtKiB, fmtMiB, fmtMs, pool, sleep, until } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '100' },
    'idle-ms': { type: 'string', default: '10000' },
    slots: { type: 'string', default: '4' },
    /** Extra server environment, KEY=VALUE (repeatable): e.g. WORKSPACE_QUOTA_BYTES=0 to see the quota walks' share. */
    env: { type: 'string', multiple: true, default: [] },
  },
});
const extraEnv = Object.fromEntries(
  (values.env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const N = Number(values.n);
const IDLE_MS = Number(values['idle-ms']);
const SLOTS = values.slots ?? '4';

const mock = await startMockLlm({
  // `[[script:…]]`-free: every conversation pushes first (and waits), then answers.
  responder: (req, info) =>
    JSON.stringify(req.messages[0]?.content).includes('plain')
      ? textReply('done')
      : scripted([toolCall('git', { operation: 'push' }), textReply('done')])(req, info),
});
const server = await startServerProc(mock.url, { MAX_CONCURRENT_RUNS: SLOTS, ...extraEnv });
const log = (s: string) => console.log(s);

async function session(policy?: object): Promise<string> {
  const r = await call<{ id: string }>(server.url, 'POST', '/api/sessions', policy ? { policy } : {});
  if (r.status !== 201) throw new Error(`POST /api/sessions → ${r.status}`);
  return r.body.id;
}
async function send(id: string, content: string): Promise<void> {
  const r = await call(server.url, 'POST', `/api/sessions/${id}/messages`, { content });
  if (r.status !== 202) throw new Error(`POST messages → ${r.status}`);
}
async function pending(): Promise<Array<{ approvalId: string; sessionId: string }>> {
  const r = await call<{ items: Array<{ approvalId: string; sessionId: string }> }>(
    server.url,
    'GET',
    '/api/approvals?status=pending&limit=500',
  );
  return r.body.items;
}
async function status(id: string): Promise<string> {
  return (await call<{ status: string }>(server.url, 'GET', `/api/sessions/${id}`)).body.status;
}
async function idleCpuMs(ms: number): Promise<number> {
  const a = await server.cpu();
  await sleep(ms);
  const b = await server.cpu();
  return (b.userUs + b.systemUs - a.userUs - a.systemUs) / 1000;
}
/** A plain run's latency from message to idle (it needs a run slot). */
async function plainRun(): Promise<number> {
  const id = await session();
  const t0 = performance.now();
  await send(id, 'plain: just answer');
  await until(async () => (await status(id)) === 'idle', 30_000, 'a plain run', 20);
  return performance.now() - t0;
}
const policy = { approve: ['git.push'] };

try {
  // Warm-up: the approval paths once (request, decide, deny), plain runs.
  const warm = await pool([0, 1, 2, 3], 4, () => session(policy));
  await pool(warm, 4, (id) => send(id, 'warm up'));
  await until(async () => (await pending()).length >= warm.length, 30_000, 'warm-up approvals', 50);
  for (const a of await pending())
    await call(server.url, 'POST', `/api/sessions/${a.sessionId}/approvals/${a.approvalId}`, {
      decision: 'deny',
    });
  await until(
    async () => (await pool(warm, 4, status)).every((s) => s === 'idle'),
    30_000,
    'warm-up runs',
    50,
  );
  await plainRun();
  await sleep(1_000);
  const base: Mem = await server.mem();
  const idleBefore = await idleCpuMs(IDLE_MS);
  const plainBefore = await plainRun();

  // Control: as many sessions whose runs went through the same LLM traffic and completed, so what
  // follows is the cost of waiting, not of N more sessions having run (allocator high-water marks).
  const plain = await pool(
    Array.from({ length: N }, () => 0),
    16,
    () => session(),
  );
  await pool(plain, 16, (id) => send(id, 'plain: just answer'));
  await until(
    async () => (await pool(plain, 16, status)).every((s) => s === 'idle'),
    120_000,
    'control runs',
    100,
  );
  await sleep(2_000);
  const control: Mem = await server.mem();

  const ids = await pool(
    Array.from({ length: N }, () => 0),
    16,
    () => session(policy),
  );
  await pool(ids, 16, (id) => send(id, 'push it'));
  await until(async () => (await pending()).length >= N, 120_000, `${N} approvals`, 100);
  await sleep(2_000);
  const waiting = await server.mem();
  const statuses = await pool(ids, 16, status);
  const idleWaiting = await idleCpuMs(IDLE_MS);
  const plainWhileWaiting = await plainRun();

  const rss = waiting.rss - control.rss;
  const heap = waiting.heapUsed + waiting.external - control.heapUsed - control.external;
  const ctlRss = control.rss - base.rss;
  const ctlHeap = control.heapUsed + control.external - base.heapUsed - base.external;
  log(`approvals idle cost: ${N} waiting approvals, MAX_CONCURRENT_RUNS=${SLOTS}, idle window ${IDLE_MS} ms`);
  log(`  sessions waiting: ${statuses.filter((s) => s === 'waiting').length}/${N}`);
  log(
    `  control (${N} sessions that ran and completed): RSS +${fmtMiB(ctlRss)}, heap+ext +${fmtMiB(ctlHeap)}`,
  );
  log(`  ${N} waiting, on top of the control:`);
  log(
    `    RSS       ${fmtMiB(control.rss)} → ${fmtMiB(waiting.rss)}: +${fmtMiB(rss)} (${fmtKiB(rss / N)} per approval)`,
  );
  log(`    heap+ext  +${fmtMiB(heap)} (${fmtKiB(heap / N)} per approval)`);
  log(
    `  CPU while idle: ${idleBefore.toFixed(1)} ms without, ${idleWaiting.toFixed(1)} ms with the approvals waiting`,
  );
  log(
    `  a plain run, message to idle: ${fmtMs(plainBefore)} before, ${fmtMs(plainWhileWaiting)} while ${N} wait`,
  );
} finally {
  await server.stop();
  await mock.close();
}
