// Bursts (issue 14, part 2): many messages posted at once, and the first run after a server start.
//
// - burst: N `native` sessions, each sent one message, all POSTs issued in the same tick; per
//   message, POST sent → its run's first request at the mock LLM (and 202 received → that request).
// - first run: a fresh server; one message once it has been up SETTLE_MS (its warm-up after listen
//   is over) — or, on another fresh server, the moment it listens; then several more, one at a
//   time, each to a new session (so each pays the same per-session set-up). Ratio = the first
//   one's POST → LLM request over the median of the later ones. The server child has Node's
//   compile cache primed, as `npm start` does (src/main.ts).
import fs from 'node:fs/promises';
import { type MockLlm, startMockLlm, textReply } from '../../src/mock-llm/index.ts';
import { createSession } from '../lib/api.ts';
import { startServerProc, tempDir } from '../lib/server-proc.ts';
import { median, percentile, pool } from '../lib/stats.ts';

export interface BurstResult {
  messages: number;
  sandbox: string;
  /** POST sent → the run's first LLM request (all POSTs sent at once) */
  p50: number;
  p99: number;
  max: number;
  /** the same from the 202 (negative: the request came first, counted as 0) */
  acceptedP50: number;
  acceptedP99: number;
  /** POST sent → 202 */
  acceptP50: number;
  acceptP99: number;
}

export interface FirstRunResult {
  starts: number;
  /** median over the starts of the first run's POST → LLM request, sent SETTLE_MS after listen */
  first: number;
  /** the same with the message sent the moment the server listens (it waits for the SDK's load) */
  atListen: number;
  atListenRuns: number[];
  /** median of the later runs' POST → LLM request (every start pooled) */
  warm: number;
  ratio: number;
  firstRuns: number[];
}

/** Resolves the moment the mock receives the first request whose last user message is `tag`. */
function requestWaiter(mock: MockLlm): (tag: string) => Promise<number> {
  const waiting = new Map<string, (t: number) => void>();
  const seen = new Map<string, number>();
  mock.onRequest((r) => {
    const t = performance.now();
    const body = r.body as { messages?: Array<{ role: string; content: unknown }> } | undefined;
    const last = body?.messages?.at(-1);
    const text = typeof last?.content === 'string' ? last.content : JSON.stringify(last?.content ?? '');
    const tag = /burst-\d+-\d+/.exec(text)?.[0];
    if (!tag || seen.has(tag)) return;
    seen.set(tag, t);
    waiting.get(tag)?.(t);
  });
  return (tag) =>
    new Promise<number>((resolve) => {
      const t = seen.get(tag);
      if (t !== undefined) return resolve(t);
      waiting.set(tag, resolve);
    });
}

async function post(url: string, sid: string, content: string): Promise<void> {
  const res = await fetch(`${url}/api/sessions/${sid}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ content }),
  });
  if (res.status !== 202) throw new Error(`POST messages → ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

export async function benchBurst(
  n: number,
  opts: { sandbox?: string; log: (s: string) => void },
): Promise<BurstResult> {
  const sandbox = opts.sandbox ?? 'none';
  const mock = await startMockLlm({ responder: () => textReply('ok'), maxRecorded: 0 });
  const server = await startServerProc(mock.url, { SANDBOX: sandbox });
  const reqAt = requestWaiter(mock);
  try {
    // Warm-up: a few runs load every module and JIT the path (what a server that has been up sees).
    const warm = await pool([0, 1, 2, 3, 4], 5, (i) => createSession(server.url, `warm-${i}`));
    for (const [i, sid] of warm.entries()) {
      const tag = `burst-0-${i}`;
      const at = reqAt(tag);
      await post(server.url, sid, tag);
      await withTimeout(at, 30_000, 'warm-up run');
    }
    const ids = await pool(
      Array.from({ length: n }, (_, i) => i),
      16,
      (i) => createSession(server.url, `burst-${i}`),
    );
    const sent: number[] = [];
    const accepted: number[] = [];
    const requested: Array<Promise<number>> = [];
    const posts: Array<Promise<void>> = [];
    for (const [i, sid] of ids.entries()) {
      const tag = `burst-1-${i}`;
      requested.push(reqAt(tag));
      sent.push(performance.now());
      posts.push(
        post(server.url, sid, tag).then(() => {
          accepted[i] = performance.now();
        }),
      );
    }
    await Promise.all(posts);
    const at = await withTimeout(Promise.all(requested), 120_000, `${n} first LLM requests`);
    const fromSend = at.map((t, i) => t - sent[i]!);
    const fromAccept = at.map((t, i) => Math.max(0, t - accepted[i]!));
    const accept = accepted.map((t, i) => t - sent[i]!);
    opts.log(`  ${n} messages at once (SANDBOX=${sandbox}): p50 ${percentile(fromSend, 50).toFixed(1)} ms`);
    return {
      messages: n,
      sandbox,
      p50: percentile(fromSend, 50),
      p99: percentile(fromSend, 99),
      max: percentile(fromSend, 100),
      acceptedP50: percentile(fromAccept, 50),
      acceptedP99: percentile(fromAccept, 99),
      acceptP50: percentile(accept, 50),
      acceptP99: percentile(accept, 99),
    };
  } finally {
    await server.stop();
    await mock.close();
  }
}

/** How long after listening the "settled" first message waits: the warm-up after listen is done. */
export const SETTLE_MS = 1_000;

export async function benchFirstRun(
  starts: number,
  later: number,
  log: (s: string) => void,
): Promise<FirstRunResult> {
  const mock = await startMockLlm({ responder: () => textReply('ok'), maxRecorded: 0 });
  const reqAt = requestWaiter(mock);
  // Like `npm start` (src/main.ts turns Node's compile cache on; the image primes it at build): a
  // restart does not compile every module again. One start primes the cache and is not counted.
  const cache = await tempDir('agent-bench-cc-');
  const env = { NODE_COMPILE_CACHE: cache };
  const firstRuns: number[] = [];
  const atListenRuns: number[] = [];
  const warmRuns: number[] = [];
  let tags = 0;
  try {
    for (let s = -1; s < starts; s++) {
      for (const settle of [0, SETTLE_MS]) {
        const server = await startServerProc(mock.url, env);
        try {
          // Each run to a new session (created right before its clock starts). The first comes
          // as soon as the server listens (the engines still load in the background), or once
          // it has been up SETTLE_MS; then `later` more, one at a time.
          for (let i = 0; i <= (s < 0 ? 0 : later); i++) {
            const sid = await createSession(server.url, `first-${s}-${i}`);
            if (i === 0 && settle > 0) await new Promise((r) => setTimeout(r, settle));
            const tag = `burst-3-${tags++}`;
            const at = reqAt(tag);
            const t0 = performance.now();
            await post(server.url, sid, tag);
            const d = (await withTimeout(at, 30_000, 'a run')) - t0;
            if (s < 0) continue;
            if (i > 0) warmRuns.push(d);
            else (settle > 0 ? firstRuns : atListenRuns).push(d);
          }
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    await mock.close();
    await fs.rm(cache, { recursive: true, force: true });
  }
  const first = median(firstRuns);
  const warm = median(warmRuns);
  const atListen = median(atListenRuns);
  log(
    `  first run after start ${first.toFixed(1)} ms (at listen ${atListen.toFixed(1)} ms), warm ${warm.toFixed(1)} ms`,
  );
  return { starts, first, atListen, warm, ratio: first / warm, firstRuns, atListenRuns };
}
