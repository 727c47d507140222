// Fair queues (docs/api.md §10): key A submits many workflows, then key B submits one. With a
// FIFO queue B would wait for all of A's; round robin across credentials starts B's run in the
// first run slot that frees up. The figure is B's start delay counted in run-slot turnovers: how
// many of A's runs were STARTED (claimed: the workflow's `startedAt`, the store's clock) after B's
// workflow was accepted (its `createdAt`) and before B's run was. 0 means B took the first slot
// that turned over. B is submitted once A's runs flow (2 × slots of them started).

import { textsOf } from '../../src/mock-llm/helpers.ts';
import { type MessagesRequest, type MockLlm, startMockLlm, textReply } from '../../src/mock-llm/index.ts';
import { startServerProc } from '../lib/server-proc.ts';
import { pool } from '../lib/stats.ts';

export interface FairnessResult {
  workflowsA: number;
  slots: number;
  runMs: number;
  /** A's runs started between B's 202 and B's run start */
  turnovers: number;
  /** B accepted → B's run claimed (ms, the store's clock) */
  waitMs: number;
  /** A's runs that had started when B was accepted */
  aStartedBefore: number;
}

function firstUserText(req: MessagesRequest): string {
  const first = req.messages.find((m) => m.role === 'user');
  return first ? textsOf(first.content).join('\n') : '';
}

export async function benchFairness(
  workflowsA: number,
  log: (s: string) => void,
  opts: { slots?: number; runMs?: number } = {},
): Promise<FairnessResult> {
  const slots = opts.slots ?? 4;
  const runMs = opts.runMs ?? 100;
  // every run is one model turn streamed over ~runMs
  const chunks = 10;
  const mock: MockLlm = await startMockLlm({
    maxRecorded: 0,
    responder: () => textReply('x'.repeat(chunks), { chunkSize: 1, deltaDelayMs: runMs / chunks }),
  });
  const server = await startServerProc(mock.url, {
    MAX_CONCURRENT_RUNS: String(slots),
    API_KEYS: 'bench-key-a,bench-key-b',
  });
  const started = new Set<string>();
  mock.onRequest((r) => {
    const tag = /\bwf-[ab]-\d+\b/.exec(firstUserText(r.body as MessagesRequest))?.[0];
    if (tag) started.add(tag);
  });
  const headers = (key: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${key}` });
  const submit = async (key: string, tag: string): Promise<string> => {
    const res = await fetch(`${server.url}/api/workflows`, {
      method: 'POST',
      headers: headers(key),
      body: JSON.stringify({ type: 'custom', instructions: `task ${tag}` }),
    });
    if (res.status !== 202) throw new Error(`POST /api/workflows → ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  };
  const waitUntil = async (pred: () => boolean, what: string) => {
    const end = Date.now() + 120_000;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  type Wf = { id: string; instructions: string; createdAt: string; startedAt?: string };
  const list = async (key: string): Promise<Wf[]> => {
    const out: Wf[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `/api/workflows?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = (await (await fetch(server.url + q, { headers: headers(key) })).json()) as {
        items: Wf[];
        nextCursor: string | null;
      };
      out.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  };
  try {
    await pool(
      Array.from({ length: workflowsA }, (_, i) => i),
      16,
      (i) => submit('bench-key-a', `wf-a-${i}`),
    );
    await waitUntil(() => started.size >= 2 * slots, "A's runs to flow");
    const bId = await submit('bench-key-b', 'wf-b-0');
    await waitUntil(() => started.has('wf-b-0'), "B's run to start");
    const all = await list('bench-key-a');
    const b = all.find((w) => w.id === bId)!;
    const acceptedAt = Date.parse(b.createdAt);
    const bStart = Date.parse(b.startedAt!);
    const a = all.filter((w) => w.instructions.includes('wf-a-') && w.startedAt);
    const turnovers = a.filter((w) => {
      const t = Date.parse(w.startedAt!);
      return t > acceptedAt && t < bStart;
    }).length;
    const aStartedBefore = a.filter((w) => Date.parse(w.startedAt!) <= acceptedAt).length;
    log(`  A: ${workflowsA} workflows, ${aStartedBefore} started before B was accepted; ${slots} slots`);
    return { workflowsA, slots, runMs, turnovers, waitMs: bStart - acceptedAt, aStartedBefore };
  } finally {
    await server.stop();
    await mock.close();
  }
}
