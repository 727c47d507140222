// Warm Claude Code spares (CLAUDE_SPARES) against cold starts, side by side in one run, with the
// bubblewrap sandbox ON (the part fails when the server's sandbox is not bwrap).
//
// Three server children (bench/lib/server-child.ts, AGENT_ENGINE=claude-code, SANDBOX=bwrap), one
// after the other, each against the scripted mock LLM (side requests answered by
// `claudeCodeSideReply`, the main loop by a one-word text reply):
// - cold:   CLAUDE_SPARES=0 — every new session's first run starts its CLI;
// - ready:  CLAUDE_SPARES=<burst>, CLAUDE_SPARES_READY=<burst> — spares claimed ahead into their
//           empty workspace, waiting only for the first message (what a session without a repository
//           gets);
// - parked: CLAUDE_SPARES=2, CLAUDE_SPARES_READY=0 — spares claimed when the run starts (what a
//           session with a repository gets, after its clone); for its latency and its RSS.
// Per server:
// - sequential: `sequential` new sessions, one message each, one at a time, each sent once the pool
//   is full again (an idle server with every spare up): 202 received → first main-loop request at
//   the mock (the message's unique text is in it);
// - burst (cold and ready): `burst` new sessions' messages POSTed at once; per session 202 → its
//   first main-loop request;
// - RSS: with the pool full and idle, the server's `agent_claude_spares_rss_bytes` (VmRSS summed over
//   every spare's process tree, src/observability/proc-tree.ts) divided by the spares up.
import { type RecordedRequest, startMockLlm, textReply } from '../../src/mock-llm/index.ts';
import { claudeCodeSideReply, isClaudeCodeSideRequest } from '../../src/mock-llm/scenarios.ts';
import type { MessagesRequest } from '../../src/mock-llm/types.ts';
import { call } from '../lib/api.ts';
import { type ServerProc, startServerProc } from '../lib/server-proc.ts';
import { percentile, sleep } from '../lib/stats.ts';

export interface LatencySet {
  n: number;
  p50: number;
  p99: number;
  max: number;
  /** how the runs started (agent_claude_spare_runs_total by outcome) */
  outcomes: Record<string, number>;
}

export interface SparesMode {
  mode: 'cold' | 'ready' | 'parked';
  env: Record<string, string>;
  sequential: LatencySet;
  burst?: LatencySet;
  /** pool full and idle: spares up, their summed tree RSS / spares (0 for cold) */
  spares: number;
  rssPerSpare: number;
  /** time from the server listening to the pool being full */
  fillMs: number;
}

export interface SparesResult {
  sandbox: string;
  sequentialN: number;
  burstN: number;
  modes: SparesMode[];
}

const SCRAPE = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/;

async function metrics(base: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = SCRAPE.exec(line);
    if (m) out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

function outcomesOf(m: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of m) {
    const o = /^agent_claude_spare_runs_total\{outcome="([a-z_]+)"\}$/.exec(k);
    if (o) out[o[1]!] = v;
  }
  return out;
}

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) if (v - (a[k] ?? 0) > 0) out[k] = v - (a[k] ?? 0);
  return out;
}

/** Waits until `want` spares are ready or parked (none starting); returns the count. */
async function poolFull(base: string, want: number, timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const m = await metrics(base);
    const up =
      (m.get('agent_claude_spares{state="ready"}') ?? 0) +
      (m.get('agent_claude_spares{state="parked"}') ?? 0);
    if (up >= want && (m.get('agent_claude_spares{state="starting"}') ?? 0) === 0) return up;
    if (Date.now() > end) throw new Error(`only ${up}/${want} spares up after ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function sandboxKind(base: string): Promise<string> {
  const r = await call<{ checks?: Record<string, { status?: string; kind?: string; error?: string }> }>(
    base,
    'GET',
    '/health/ready',
  );
  const s = r.body.checks?.sandbox;
  if (s?.status !== 'ok') throw new Error(`sandbox check failed: ${JSON.stringify(r.body)}`);
  return s.kind ?? 'unknown';
}

async function createCcSession(base: string, title: string): Promise<string> {
  const r = await call<{ id: string }>(base, 'POST', '/api/sessions', { title, engine: 'claude-code' });
  if (r.status !== 201) throw new Error(`POST /api/sessions → ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.id;
}

/** Resolves with the session's run state once its last run is no longer queued or running. */
async function runEnded(base: string, id: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await call<{ status?: string }>(base, 'GET', `/api/sessions/${id}`);
    if (r.body.status !== 'running' && r.body.status !== 'queued') return;
    if (Date.now() > end) throw new Error(`session ${id}: run did not end in ${timeoutMs} ms`);
    await sleep(50);
  }
}

export async function benchClaudeSpares(
  sequentialN: number,
  burstN: number,
  log: (s: string) => void,
): Promise<SparesResult> {
  /** message text → when its first main-loop request reached the mock */
  const seen = new Map<string, number>();
  const mock = await startMockLlm({
    responder: (req: MessagesRequest) =>
      isClaudeCodeSideRequest(req) ? claudeCodeSideReply(req) : textReply('ok'),
    maxRecorded: 0,
  });
  mock.onRequest((r: RecordedRequest) => {
    const t = performance.now();
    if (r.path !== '/v1/messages' || typeof r.body !== 'object' || r.body === null) return;
    if (isClaudeCodeSideRequest(r.body as MessagesRequest)) return;
    const m = /spare-bench-[0-9a-z-]+/.exec(JSON.stringify(r.body));
    if (m && !seen.has(m[0])) seen.set(m[0], t);
  });

  /** One message in a new session: 202 received → its first main-loop request (ms). */
  const one = async (base: string, id: string, tag: string): Promise<number> => {
    const r = await call<{ runId: string }>(base, 'POST', `/api/sessions/${id}/messages`, {
      content: `Answer with one word. ${tag}`,
    });
    const acceptedAt = performance.now();
    if (r.status !== 202) throw new Error(`POST messages → ${r.status}: ${JSON.stringify(r.body)}`);
    const end = Date.now() + 120_000;
    while (!seen.has(tag)) {
      if (Date.now() > end) throw new Error(`${tag}: no LLM request in 120 s`);
      await sleep(2);
    }
    await runEnded(base, id, 120_000);
    return Math.max(0, seen.get(tag)! - acceptedAt);
  };

  const modes: SparesMode[] = [];
  let sandbox = 'unknown';
  const plan: Array<{
    mode: SparesMode['mode'];
    env: Record<string, string>;
    count: number;
    burst: boolean;
  }> = [
    { mode: 'cold', env: { CLAUDE_SPARES: '0' }, count: 0, burst: true },
    {
      mode: 'ready',
      env: { CLAUDE_SPARES: String(burstN), CLAUDE_SPARES_READY: String(burstN) },
      count: burstN,
      burst: true,
    },
    { mode: 'parked', env: { CLAUDE_SPARES: '2', CLAUDE_SPARES_READY: '0' }, count: 2, burst: false },
  ];
  try {
    for (const p of plan) {
      let server: ServerProc | undefined;
      try {
        const startedAt = performance.now();
        server = await startServerProc(mock.url, {
          AGENT_ENGINE: 'claude-code',
          SANDBOX: 'bwrap',
          CLAUDE_MAX_PROCESSES: String(Math.max(16, burstN * 2)),
          MAX_CONCURRENT_RUNS: '500',
          ...p.env,
        });
        const base = server.url;
        sandbox = await sandboxKind(base);
        if (sandbox !== 'bwrap') throw new Error(`the server's sandbox is "${sandbox}", not bwrap`);
        const fill = async (): Promise<number> => (p.count > 0 ? poolFull(base, p.count, 180_000) : 0);
        await fill();
        const fillMs = performance.now() - startedAt;
        // Warm-up (not counted): one run loads the engine's modules and the CLI's files into the page cache.
        await one(base, await createCcSession(base, 'warm-up'), `spare-bench-${p.mode}-warm`);
        await fill();
        const m0 = await metrics(base);
        const seq: number[] = [];
        for (let i = 0; i < sequentialN; i++) {
          const id = await createCcSession(base, `seq-${i}`);
          await fill();
          seq.push(await one(base, id, `spare-bench-${p.mode}-seq-${i}`));
        }
        const m1 = await metrics(base);
        await fill();
        await sleep(1_000); // the last replacement's start-up settles
        const mIdle = await metrics(base);
        const spares = p.count > 0 ? await poolFull(base, p.count, 1_000) : 0;
        const rss = mIdle.get('agent_claude_spares_rss_bytes') ?? 0;
        const mode: SparesMode = {
          mode: p.mode,
          env: p.env,
          sequential: {
            n: seq.length,
            p50: percentile(seq, 50),
            p99: percentile(seq, 99),
            max: percentile(seq, 100),
            outcomes: diff(outcomesOf(m0), outcomesOf(m1)),
          },
          spares,
          rssPerSpare: spares > 0 ? rss / spares : 0,
          fillMs,
        };
        log(
          `  ${p.mode}: sequential p50 ${mode.sequential.p50.toFixed(1)} ms (${JSON.stringify(mode.sequential.outcomes)})` +
            (spares ? `, ${spares} spares, ${(mode.rssPerSpare / 1024 ** 2).toFixed(0)} MiB each` : ''),
        );
        if (p.burst) {
          const ids: string[] = [];
          for (let i = 0; i < burstN; i++) ids.push(await createCcSession(base, `burst-${i}`));
          await fill();
          const b0 = await metrics(base);
          const lat = await Promise.all(
            ids.map((id, i) => one(base, id, `spare-bench-${p.mode}-burst-${i}`)),
          );
          const b1 = await metrics(base);
          mode.burst = {
            n: lat.length,
            p50: percentile(lat, 50),
            p99: percentile(lat, 99),
            max: percentile(lat, 100),
            outcomes: diff(outcomesOf(b0), outcomesOf(b1)),
          };
          log(
            `  ${p.mode}: ${burstN} at once p50 ${mode.burst.p50.toFixed(1)} / p99 ${mode.burst.p99.toFixed(1)} ms (${JSON.stringify(mode.burst.outcomes)})`,
          );
        }
        modes.push(mode);
      } finally {
        await server?.stop();
      }
    }
  } finally {
    await mock.close();
  }
  return { sandbox, sequentialN, burstN, modes };
}
