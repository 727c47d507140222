// `npm run bench`: the server's own overhead measured against a mock Anthropic API on this machine.
// Prints a table and writes the `core`, `claude-code`, `claude-spares` and `multi-instance` sections of BENCHMARKS.md
// (other sections are kept; a section is only rewritten when one of its parts ran).
//
//   node bench/run.ts [--quick] [--only memory,first-request,burst,streaming,cold-start,claude-code-capacity,claude-spares,steering,fairness,multi-instance,external]
//                     [--no-write] [--out FILE]
//
// --quick: small sizes, a smoke run in well under 30 s; it does not write BENCHMARKS.md unless --out is given.
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { type BurstResult, benchBurst, benchFirstRun, type FirstRunResult, SETTLE_MS } from './core/burst.ts';
import { benchClaudeCodeCapacity, type CapacityResult, CLI_BUDGET } from './core/claude-code-capacity.ts';
import { benchClaudeSpares, type SparesResult } from './core/claude-spares.ts';
import { benchColdStart, type ColdStartResult } from './core/cold-start.ts';
import { benchFairness, type FairnessResult } from './core/fairness.ts';
import { benchFirstRequest, type FirstRequestResult } from './core/first-request.ts';
import { benchMemory, type MemoryResult } from './core/memory.ts';
import { benchMultiInstance, type MultiInstanceResult } from './core/multi-instance.ts';
import { benchSteering, type SteeringResult } from './core/steering.ts';
import { benchStreaming, type StreamingResult } from './core/streaming.ts';
import { type ExternalResult, runExternal } from './lib/external.ts';
import { multiInstanceRows, multiInstanceSection } from './lib/multi-instance-report.ts';
import { fmtMs } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    out: { type: 'string' },
    'streaming-levels': { type: 'string' },
    'streaming-ms': { type: 'string' },
    'cc-levels': { type: 'string' },
    'cc-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
const usage =
  'usage: node bench/run.ts [--quick] [--only memory,first-request,burst,streaming,cold-start,claude-code-capacity,claude-spares,steering,fairness,multi-instance,external]\n' +
  '                         [--no-write] [--out FILE] [--streaming-levels 1,100,1000] [--streaming-ms 10000]\n' +
  '                         [--cc-levels 1,4,8,16,32,48,64,80,96] [--cc-ms 10000]';
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const ALL = [
  'memory',
  'first-request',
  'burst',
  'streaming',
  'cold-start',
  'claude-code-capacity',
  'claude-spares',
  'steering',
  'fairness',
  'multi-instance',
  'external',
] as const;
type Part = (typeof ALL)[number];
const only = new Set<string>(values.only ? values.only.split(',').map((s) => s.trim()) : ALL);
for (const p of only)
  if (!(ALL as readonly string[]).includes(p)) {
    console.error(`unknown part "${p}"\n${usage}`);
    process.exit(2);
  }
const want = (p: Part): boolean => only.has(p);
const quick = values.quick === true;

const SIZES = quick
  ? {
      memorySessions: 20,
      firstRequestMessages: 20,
      firstRequestSessions: 5,
      burstMessages: 20,
      firstRunStarts: 1,
      firstRunLater: 3,
      streamingLevels: [1, 50],
      streamingAuthSessions: 20,
      streamingMs: 1_500,
      coldStarts: 2,
      ccLevels: [1, 2],
      ccMs: 1_500,
      steeringSamples: 5,
      fairnessWorkflows: 50,
      sparesSequential: 3,
      sparesBurst: 3,
      multiInstance: {
        workflows: 60,
        clients: 12,
        latencySamples: 10,
        slots: 8,
        fanoutSessions: 5,
        fanoutMs: 1_500,
      },
    }
  : {
      memorySessions: 200,
      firstRequestMessages: 200,
      firstRequestSessions: 20,
      burstMessages: 200,
      firstRunStarts: 5,
      firstRunLater: 10,
      streamingLevels: [1, 100, 1000],
      streamingAuthSessions: 1000,
      streamingMs: 10_000,
      coldStarts: 5,
      ccLevels: [1, 4, 8, 16, 32, 48, 64, 80, 96],
      ccMs: 10_000,
      steeringSamples: 30,
      fairnessWorkflows: 500,
      sparesSequential: 10,
      sparesBurst: 10,
      multiInstance: {
        workflows: 1_000,
        clients: 24,
        latencySamples: 100,
        slots: 8,
        fanoutSessions: 50,
        fanoutMs: 10_000,
      },
    };
if (values['streaming-levels']) SIZES.streamingLevels = values['streaming-levels'].split(',').map(Number);
if (values['streaming-ms']) SIZES.streamingMs = Number(values['streaming-ms']);
if (values['cc-levels']) SIZES.ccLevels = values['cc-levels'].split(',').map(Number);
if (values['cc-ms']) SIZES.ccMs = Number(values['cc-ms']);
/** the claude-code capacity bench: the added streaming delay p99 a level must stay under */
const CC_LIMIT_MS = 1_000;
const DELTA_INTERVAL_MS = 50;
const SESSIONS_PER_WS = 50;
const EXTERNALS: Array<{ name: string; timeoutMs: number }> = [
  { name: 'workflows', timeoutMs: 10 * 60_000 },
  { name: 'sandbox-overhead', timeoutMs: 5 * 60_000 },
  { name: 'claude-code-probe', timeoutMs: 5 * 60_000 },
];

const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};
const t0 = performance.now();
const startedAt = Date.now();
const loadAtStart = os.loadavg()[0] ?? 0;
const errors: Partial<Record<Part, string>> = {};
async function part<T>(name: Part, fn: () => Promise<T>): Promise<T | undefined> {
  if (!want(name)) return undefined;
  log(`▸ ${name}`);
  const started = performance.now();
  try {
    const r = await fn();
    log(`  done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return r;
  } catch (err) {
    const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
    errors[name] = msg.split('\n')[0] ?? msg;
    log(`  FAILED: ${msg}`);
    return undefined;
  }
}

// --- measure ----------------------------------------------------------------------------------

const memory: MemoryResult | undefined = await part('memory', () => benchMemory(SIZES.memorySessions, log));
const first: FirstRequestResult | undefined = await part('first-request', () =>
  benchFirstRequest(SIZES.firstRequestMessages, SIZES.firstRequestSessions, log),
);
const burst: { none: BurstResult; bwrap: BurstResult | string; firstRun: FirstRunResult } | undefined =
  await part('burst', async () => ({
    none: await benchBurst(SIZES.burstMessages, { log }),
    // The same with the sandbox on (workspaces owned by per-session uids on a root server).
    bwrap: await benchBurst(SIZES.burstMessages, { sandbox: 'bwrap', log }).catch(
      (err: unknown) => String(err instanceof Error ? err.message : err).split('\n')[0]!,
    ),
    firstRun: await benchFirstRun(SIZES.firstRunStarts, SIZES.firstRunLater, log),
  }));
const streaming: StreamingResult[] =
  (await part('streaming', async () => {
    const out: StreamingResult[] = [];
    const opts = {
      intervalMs: DELTA_INTERVAL_MS,
      durationMs: SIZES.streamingMs,
      perConn: SESSIONS_PER_WS,
      log,
    };
    for (const n of SIZES.streamingLevels) out.push(await benchStreaming(n, opts));
    // Authentication on: the multiplexed shape, and one WebSocket per session (the dashboard's).
    for (const shape of ['multiplexed', 'per-session'] as const)
      out.push(await benchStreaming(SIZES.streamingAuthSessions, { ...opts, auth: true, shape }));
    return out;
  })) ?? [];
const streamingId = (s: StreamingResult): string =>
  `streaming-${s.sessions}${s.auth ? `-auth-${s.shape}` : ''}`;
const streamingShape = (s: StreamingResult): string =>
  s.auth ? (s.shape === 'per-session' ? ', auth on, one WS per session' : ', auth on, multiplexed') : '';
const cold: ColdStartResult | undefined = await part('cold-start', () => benchColdStart(SIZES.coldStarts));
const cc: CapacityResult | undefined = await part('claude-code-capacity', () =>
  benchClaudeCodeCapacity(SIZES.ccLevels, {
    intervalMs: DELTA_INTERVAL_MS,
    durationMs: SIZES.ccMs,
    perConn: SESSIONS_PER_WS,
    limitMs: CC_LIMIT_MS,
    log,
  }),
);
const spares: SparesResult | undefined = await part('claude-spares', () =>
  benchClaudeSpares(SIZES.sparesSequential, SIZES.sparesBurst, log),
);
const steering: SteeringResult | undefined = await part('steering', () =>
  benchSteering(SIZES.steeringSamples, log),
);
const fairness: FairnessResult | undefined = await part('fairness', () =>
  benchFairness(SIZES.fairnessWorkflows, log),
);
const multi: MultiInstanceResult | undefined = await part('multi-instance', () =>
  benchMultiInstance(SIZES.multiInstance, log),
);
const externals: ExternalResult[] = [];
if (want('external')) {
  for (const e of EXTERNALS) {
    if (quick) {
      externals.push({ name: e.name, file: `bench/${e.name}.ts`, status: 'skipped', durationMs: 0 });
      continue;
    }
    log(`▸ external: bench/${e.name}.ts`);
    const r = await runExternal(e.name, [], e.timeoutMs);
    log(`  ${r.status}${r.durationMs ? ` in ${(r.durationMs / 1000).toFixed(1)} s` : ''}`);
    externals.push(r);
  }
}

// --- tabulate ---------------------------------------------------------------------------------

interface Row {
  id: string;
  figure: string;
  target: string;
  measured: string;
  met?: boolean;
}
const MB = 1_000_000;
const fmtMB = (b: number): string => `${(b / MB).toFixed(2)} MB`;
const rows: Row[] = [];
if (memory) {
  rows.push({
    id: 'memory',
    figure: `Memory per active \`native\` session — RSS (N=${memory.sessions})`,
    target: '≤ 2 MB',
    measured: fmtMB(memory.perSessionRss),
    met: memory.perSessionRss <= 2 * MB,
  });
  rows.push({
    id: 'memory-heap',
    figure: `… of which JS heap (+ external) per session`,
    target: '',
    measured: `${fmtMB(memory.perSessionHeap)} (${fmtMB(memory.perSessionHeapExternal)})`,
  });
}
if (first) {
  rows.push({
    id: 'first-request',
    figure: `Message accepted (202) → first LLM request, p50 (${first.messages} sequential)`,
    target: '≤ 10 ms',
    measured: fmtMs(first.p50),
    met: first.p50 <= 10,
  });
  rows.push({ id: 'first-request-p99', figure: '… p99', target: '', measured: fmtMs(first.p99) });
}
if (burst) {
  const b = burst.none;
  rows.push({
    id: 'burst',
    figure: `\`native\`, ${b.messages} messages posted at once (to ${b.messages} sessions): message → first LLM request p50 / p99`,
    target: 'p50 ≤ 50 ms, p99 ≤ 250 ms',
    measured: `${fmtMs(b.p50)} / ${fmtMs(b.p99)}`,
    met: b.p50 <= 50 && b.p99 <= 250,
  });
  rows.push({
    id: 'burst-accept',
    figure: '… POST → 202 p50 / p99; with `SANDBOX=bwrap`: message → first LLM request p50 / p99',
    target: '',
    measured:
      `${fmtMs(b.acceptP50)} / ${fmtMs(b.acceptP99)}; ` +
      (typeof burst.bwrap === 'string'
        ? `bwrap: not measured (${burst.bwrap})`
        : `${fmtMs(burst.bwrap.p50)} / ${fmtMs(burst.bwrap.p99)}`),
  });
  const f = burst.firstRun;
  rows.push({
    id: 'first-run',
    figure: `First run after a start (message ${SETTLE_MS / 1000} s after listen) vs a warm run: POST → first LLM request (median of ${f.starts} starts)`,
    target: 'within 2× of warm',
    measured: `${fmtMs(f.first)} vs ${fmtMs(f.warm)} (${f.ratio.toFixed(1)}×)`,
    met: f.ratio <= 2,
  });
  rows.push({
    id: 'first-run-at-listen',
    figure: '… message the moment the server listens (waits for the engine module still loading)',
    target: '',
    measured: `${fmtMs(f.atListen)} (${(f.atListen / f.warm).toFixed(1)}×)`,
  });
}
for (const s of streaming) {
  const gated = s.sessions === 1000;
  rows.push({
    id: streamingId(s),
    figure: `Added streaming delay (mock emit → WS receive), ${s.sessions} streaming session${s.sessions === 1 ? '' : 's'}${streamingShape(s)}: p50 / p99`,
    target: gated ? 'p99 ≤ 50 ms' : '',
    measured: `${fmtMs(s.p50)} / ${fmtMs(s.p99)}`,
    ...(gated ? { met: s.p99 <= 50 && s.received >= s.emitted } : {}),
  });
}
if (cold) {
  rows.push({
    id: 'cold-start',
    figure: `Cold start to \`/health\` 200, first start after install — empty compile cache (median of ${cold.runs.length})`,
    target: '≤ 500 ms',
    measured: fmtMs(cold.median),
    met: cold.median <= 500,
  });
  rows.push({
    id: 'cold-start-cached',
    figure: '… every later start: compile cache primed (`src/main.ts` enables it) (median)',
    target: '',
    measured: fmtMs(cold.cachedMedian),
  });
}
const fmtMiBn = (b: number): string => `${(b / 1024 ** 2).toFixed(0)} MiB`;
if (cc) {
  const at = cc.levels.find((l) => l.sessions === cc.capacity);
  rows.push({
    id: 'claude-code-capacity',
    figure: `Concurrent \`claude-code\` sessions held with added streaming delay p99 ≤ ${CC_LIMIT_MS / 1000} s (levels ${cc.levels.map((l) => l.sessions).join(', ')})`,
    target: '',
    measured:
      cc.stoppedBy === 'p99'
        ? String(cc.capacity)
        : `≥ ${cc.capacity} (${cc.stoppedBy === 'end' ? 'largest level planned' : `ramp stopped: ${cc.stoppedBy.split(/[ :]/)[0]}`})`,
  });
  if (at)
    rows.push({
      id: 'claude-code-capacity-at',
      figure: `… at ${at.sessions}: p50 / p99, server + CLI RSS`,
      target: '',
      measured: `${fmtMs(at.p50)} / ${fmtMs(at.p99)}, ${fmtMiBn(at.totalRss)}`,
    });
}
if (spares) {
  const by = (m: string) => spares.modes.find((x) => x.mode === m);
  const [cold, ready, parked] = [by('cold'), by('ready'), by('parked')];
  if (cold && ready)
    rows.push({
      id: 'claude-spares',
      figure: `\`claude-code\` (bwrap) message accepted (202) → first LLM request, p50: ready spare vs cold (${ready.sequential.n} sequential)`,
      target: '≤ 50 ms',
      measured: `${fmtMs(ready.sequential.p50)} vs ${fmtMs(cold.sequential.p50)}`,
      met: ready.sequential.p50 <= 50,
    });
  if (cold?.burst && ready?.burst)
    rows.push({
      id: 'claude-spares-burst',
      figure: `… ${ready.burst.n} sessions at once, p50 / p99: spares (CLAUDE_SPARES=${ready.burst.n}) vs cold`,
      target: '',
      measured: `${fmtMs(ready.burst.p50)} / ${fmtMs(ready.burst.p99)} vs ${fmtMs(cold.burst.p50)} / ${fmtMs(cold.burst.p99)}`,
    });
  if (parked)
    rows.push({
      id: 'claude-spares-parked',
      figure: '… parked spare (claimed at run start): p50; RSS per parked spare',
      target: '',
      measured: `${fmtMs(parked.sequential.p50)}; ${fmtMiBn(parked.rssPerSpare)}`,
    });
}
if (steering) {
  rows.push({
    id: 'steering',
    figure: `Steering: POST \`mode: "interrupt"\` → the new run's first LLM request while \`sleep 60\` runs, p50 (native, ${steering.samples} interrupts)`,
    target: '≤ 100 ms',
    measured: fmtMs(steering.p50),
    met: steering.p50 <= 100,
  });
  rows.push({
    id: 'steering-p99',
    figure: '… p99 (POST → 202 p50)',
    target: '',
    measured: `${fmtMs(steering.p99)} (${fmtMs(steering.acceptP50)})`,
  });
}
if (fairness) {
  rows.push({
    id: 'fairness',
    figure: `Fair queue: key A submits ${fairness.workflowsA} workflows, then key B one — B's start delay in run-slot turnovers (${fairness.slots} slots)`,
    target: '≤ 1',
    measured: `${fairness.turnovers} (B waited ${fmtMs(fairness.waitMs)}; runs ≈ ${fairness.runMs} ms)`,
    met: fairness.turnovers <= 1,
  });
}
if (multi) rows.push(...multiInstanceRows(multi));
const fmtFigure = (v: unknown): string => {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(2);
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && 'value' in v) {
    const o = v as { value: unknown; unit?: unknown };
    return `${fmtFigure(o.value)}${typeof o.unit === 'string' ? ` ${o.unit}` : ''}`;
  }
  return JSON.stringify(v);
};
const targetOf = (v: unknown): string =>
  typeof v === 'object' && v !== null && 'target' in v ? String((v as { target: unknown }).target) : '';
for (const e of externals) {
  if (e.figures) {
    for (const [k, v] of Object.entries(e.figures)) {
      rows.push({
        id: `${e.name}:${k}`,
        figure: `${e.file}: ${k}`,
        target: targetOf(v),
        measured: fmtFigure(v),
      });
    }
  } else {
    rows.push({
      id: e.name,
      figure: e.file,
      target: '',
      measured:
        e.status === 'absent'
          ? 'not present in this checkout'
          : e.status === 'skipped'
            ? 'skipped (--quick)'
            : `${e.status} — see raw output below`,
    });
  }
}
const mark = (r: Row): string => (r.met === undefined ? '' : r.met ? '✅' : '❌');

// console table
const width = (k: keyof Row): number => Math.max(...rows.map((r) => String(r[k] ?? '').length), k.length);
const wF = Math.min(90, width('figure'));
const wT = width('target');
console.log(`\n${'figure'.padEnd(wF)}  ${'target'.padEnd(wT)}  measured`);
for (const r of rows)
  console.log(`${r.figure.slice(0, wF).padEnd(wF)}  ${r.target.padEnd(wT)}  ${r.measured} ${mark(r)}`);
for (const [k, v] of Object.entries(errors)) console.log(`${k}: FAILED — ${v}`);

// --- BENCHMARKS.md ----------------------------------------------------------------------------

const nodeVersion = process.version;
const cpuModel = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
const machine = `${os.availableParallelism()} × ${cpuModel}, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, Linux ${os.release()}, Node ${nodeVersion}`;
const date = new Date(startedAt).toISOString().slice(0, 16).replace('T', ' ');
const loadAtEnd = os.loadavg()[0] ?? 0;

function methodSection(): string {
  const L: string[] = [];
  L.push('### Method');
  L.push('');
  L.push(
    'Every figure is measured on this machine against a mock Anthropic API (`src/mock-llm` or the ' +
      'timestamping mock in `bench/lib/timed-mock.ts`), so it is the server’s own overhead, not a model’s. ' +
      'The server under test runs in its **own process** (`bench/lib/server-child.ts`: the same `createRuntime` ' +
      'as `npm start`, started with `--expose-gc`), with a fresh `DATA_DIR` (embedded SQLite, WAL), ' +
      '`AGENT_ENGINE=native`, `SANDBOX=none`, `LOG_LEVEL=error`, and `MAX_CONCURRENT_RUNS=2000` so the ' +
      'scheduler admits every session at once. The mock LLM runs in the bench process (`bench/run.ts`).',
  );
  L.push('');
  L.push(
    `- **Memory per active session.** Warm-up: 10 sessions run one short message each (loads every lazily ` +
      `imported module, JITs the hot paths). Baseline: four full GCs (\`global.gc()\`), then \`process.memoryUsage()\` ` +
      `in the server process. Then N=${memory?.sessions ?? SIZES.memorySessions} sessions are created, each followed over ` +
      `WebSocket (${SESSIONS_PER_WS} sessions per connection, from a separate client process), and each sent a message; ` +
      `the mock holds every LLM stream open (one small delta per second), so N runs are active at once ` +
      `(the mock counts N open streams). After 2 s, four full GCs and a sample. Figure = (active − baseline) / N. ` +
      `RSS is the target figure (what the machine pays); heapUsed and external are exact after GC and shown ` +
      `for attribution.`,
  );
  L.push(
    `- **Message accepted → first LLM request.** ${first?.messages ?? SIZES.firstRequestMessages} messages, sent one ` +
      `at a time over ${first?.sessions ?? SIZES.firstRequestSessions} sessions in turn (5 warm-up messages ` +
      `first, not counted); each run completes (seen over WebSocket) before the next message. ` +
      `Clock: \`performance.now()\` in the bench process, from the moment \`fetch\` resolves with the 202 to the ` +
      `moment the mock’s \`onRequest\` fires (request body read). A request that arrives before the client has ` +
      `processed its 202 counts as 0 ms${first ? ` (${first.arrivedBefore202} of ${first.messages})` : ''}. ` +
      `For context, POST sent → LLM request: ${first ? `p50 ${fmtMs(first.sendP50)}, p99 ${fmtMs(first.sendP99)}` : 'n/a'}.`,
  );
  L.push(
    `- **Bursts.** \`bench/core/burst.ts\`. A fresh server; 5 warm-up runs; then ${burst?.none.messages ?? SIZES.burstMessages} ` +
      'sessions are created and each is sent one message, every POST issued in the same tick from the bench process. ' +
      'Per message: POST sent → the mock receiving that run’s first request (matched by a tag in the message), ' +
      '`performance.now()` in the bench process; p50/p99 over the messages. The `bwrap` figure is the same with ' +
      '`SANDBOX=bwrap` (on a root server each new workspace is handed to its own uid). **First run after a start**: ' +
      `${burst?.firstRun.starts ?? SIZES.firstRunStarts} fresh servers (Node’s compile cache primed by one earlier start, as ` +
      '`npm start` has it); on each, a session is created and, once the server has been up ' +
      `${SETTLE_MS / 1000} s (the engines load and warm right after listen), sent a message; then ${SIZES.firstRunLater} ` +
      'more, one at a time, each to a new session. Figure: the first run’s POST → first LLM request (median over the ' +
      `starts) against the median of the later ones${burst ? ` (first runs: ${burst.firstRun.firstRuns.map((r) => r.toFixed(0)).join(', ')} ms)` : ''}. ` +
      'The “at listen” row: as many other fresh servers, the first message sent the moment `start()` answers ' +
      `(the run waits for the engine module still loading)${burst ? ` (runs: ${burst.firstRun.atListenRuns.map((r) => r.toFixed(0)).join(', ')} ms)` : ''}.`,
  );
  L.push(
    `- **Added streaming delay.** The mock writes one text delta every ${DELTA_INTERVAL_MS} ms per stream ` +
      `(≈ 20 deltas/s — the pace of a fast model; streams start at random phases). Each delta’s text is built ` +
      `when it is written and carries \`⟨t=<performance.timeOrigin + performance.now()>⟩\` (epoch ms, µs ` +
      `precision). The server parses the SSE stream, stores each event (group commit, with coalescing of ` +
      `deltas that meet in the same tick) and fans it out; a **separate client process** ` +
      `(\`bench/lib/ws-clients-child.ts\`) holds one WebSocket per ${SESSIONS_PER_WS} sessions, parses every ` +
      `stamp in every \`text.delta\` (coalesced events carry several) and records receive − emit on the same ` +
      `machine clock. All runs are first brought to the point where their LLM stream is open, then the mock ` +
      `starts streaming on all of them for ${SIZES.streamingMs / 1000} s. Three processes (mock + bench, server, ` +
      `clients) share the ${os.availableParallelism()} cores, so the figure includes CPU contention a ` +
      `deployment with a remote model would not have. The “auth on” rows: the server has \`API_KEYS\`, every ` +
      `HTTP call carries the key; “multiplexed” sends it on the WebSocket upgrade (${SESSIONS_PER_WS} sessions per ` +
      `connection), “one WS per session” does what the dashboard does — \`POST /api/ws-ticket\` with the key, then ` +
      `one connection per session opened with the ticket as a subprotocol.`,
  );
  L.push(
    `- **Cold start.** \`node src/main.ts\` spawned with a fresh \`DATA_DIR\`, an unused port and an empty \`NODE_COMPILE_CACHE\` directory (a first start after install), otherwise the ` +
      `default configuration; time from \`spawn()\` to the first 200 from \`GET /health\`, polled every 5 ms. ` +
      `Median of ${cold?.runs.length ?? SIZES.coldStarts} (runs: ${cold ? cold.runs.map((r) => r.toFixed(0)).join(', ') : 'n/a'} ms). ` +
      `Includes Node start-up, type stripping and compiling every module, opening and migrating the database. ` +
      `Importing \`src/runtime.ts\` alone: ${cold ? fmtMs(cold.importMedian) : 'n/a'} (median). ` +
      `Second row: the same with \`NODE_COMPILE_CACHE\` set to a directory primed by one earlier start — what every restart after the first sees, since \`src/main.ts\` turns Node's compile cache on (the Docker image primes it at build) ` +
      `(runs: ${cold ? cold.cachedRuns.map((r) => r.toFixed(0)).join(', ') : 'n/a'} ms).`,
  );
  if (steering || fairness) L.push('');
  if (steering)
    L.push(
      `- **Steering.** A fresh session per sample (${steering.samples}, after 3 warm-up ones); its first message makes ` +
        'the mock ask for `bash` `echo go; sleep 60`; once `go` arrives over WebSocket (the sleep runs), a message ' +
        'with `mode: "interrupt"` is POSTed. Clock: `performance.now()` in the bench process from sending that POST ' +
        'to the mock receiving the new run’s first request (it carries the interrupted turn and the new message). ' +
        `Sandbox \`${steering.sandbox}\`.`,
    );
  if (fairness)
    L.push(
      `- **Fair queue.** \`MAX_CONCURRENT_RUNS=${fairness.slots}\`, two API keys. Key A submits ${fairness.workflowsA} ` +
        `workflows (16 requests in flight; each run is one model turn streamed over ≈ ${fairness.runMs} ms), then key B ` +
        "submits one. A run's start is its first request at the mock. Figure: A's runs started after B's 202 and " +
        `before B's run (${fairness.aStartedBefore} of A's had started before B was accepted).`,
    );
  return L.join('\n');
}

function detailSection(): string {
  const L: string[] = [];
  if (memory) {
    const m = (x: { rss: number; heapUsed: number; external: number }): string =>
      `RSS ${fmtMB(x.rss)}, heap ${fmtMB(x.heapUsed)}, external ${fmtMB(x.external)}`;
    L.push('### Detail: memory');
    L.push('');
    L.push(`- baseline (warm, no sessions): ${m(memory.baseline)}`);
    L.push(`- ${memory.sessions} active runs: ${m(memory.active)}`);
    L.push(
      `- the same ${memory.sessions} sessions idle after their runs: ${m(memory.idle)} ` +
        `(heap ${fmtMB(memory.idlePerSessionHeap)} per idle session; RSS rarely shrinks after a peak)`,
    );
    L.push('');
  }
  if (streaming.length > 0) {
    L.push('### Detail: streaming');
    L.push('');
    L.push(
      '| sessions | WS conns | deltas emitted | stamps received | WS frames | p50 | p99 | max | CPU server / mock / clients (% of a core) | load avg | failed runs |',
    );
    L.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const s of streaming) {
      L.push(
        `| ${s.sessions}${streamingShape(s)} | ${s.connections} | ${s.emitted} | ${s.received} | ${s.wsFrames} | ${fmtMs(s.p50)} | ${fmtMs(s.p99)} | ${fmtMs(s.max)} | ${s.serverCpuPct.toFixed(0)} / ${s.mockCpuPct.toFixed(0)} / ${s.clientCpuPct.toFixed(0)} | ${s.loadAvg.toFixed(1)} | ${s.failedRuns} |`,
      );
    }
    L.push('');
    L.push(
      '“stamps received” counts deltas that reached the client (every emitted delta should, coalesced or not); ' +
        'fewer WS frames than stamps means deltas were coalesced.',
    );
    L.push('');
  }
  return L.join('\n');
}

function missesSection(): string {
  const L: string[] = [];
  const missed = rows.filter((r) => r.met === false);
  L.push('### Missed targets');
  L.push('');
  if (missed.length === 0) {
    L.push(
      Object.keys(errors).length === 0
        ? 'None: every target is met on this machine.'
        : 'None among the figures measured.',
    );
    return L.join('\n');
  }
  for (const r of missed)
    L.push(`- **${r.figure}** — measured ${r.measured}, target ${r.target}. ${missNote(r.id)}`);
  return L.join('\n');
}

function missNote(id: string): string {
  if (id === 'memory' && memory) {
    return (
      `Heap per session is ${fmtMB(memory.perSessionHeap)}; the rest of the RSS growth is native memory ` +
      '(socket buffers of the LLM stream and the WebSocket, SQLite page cache, allocator slack). ' +
      'What would reach it: keep fewer per-run objects alive while a run waits on the model, and cap the ' +
      'SQLite cache (`PRAGMA cache_size`).'
    );
  }
  if (id === 'first-request' && first) {
    return (
      'The path from 202 to the LLM request is: store the run, wake the scheduler, claim it (a write ' +
      'transaction), prepare the workspace, load the history, build the request. What would reach it: ' +
      'hand the accepted run to the scheduler in memory instead of re-reading it, and prepare the ' +
      'workspace lazily.'
    );
  }
  if (id === 'first-run' && burst) {
    return (
      'Right after listen the SDK loads, its client and the tool schemas are built and one canned turn is ' +
      'streamed over loopback (undici’s parser, the SDK’s request and stream code: src/agent/native/warm-up.ts). ' +
      'What a first run still does for the first time is the server’s own path — accepting, claiming and ' +
      'starting a run, its SQL statements and code compiled cold (≈ 4–6 ms more per step than warm, traced) — ' +
      'and its connection to the model.'
    );
  }
  if (id === 'burst' && burst) {
    return (
      'Each message costs the server CPU for the HTTP request (parsing, validation, auth, audit), its store ' +
      'writes (group commits shared by the burst: accepting, claiming and starting are a few commits for all ' +
      'the messages, not a few per message), its workspace and the SDK request; with the mock, the clients and ' +
      `the server on ${os.availableParallelism()} shared cores, ${burst.none.messages} of them queue on CPU. ` +
      'See notes/perf-bursts.md.'
    );
  }
  if (id.startsWith('streaming-')) {
    const s = streaming.find((x) => streamingId(x) === id);
    if (!s) return '';
    if (s.received < s.emitted)
      return `Only ${s.received} of ${s.emitted} deltas reached the client before the runs ended.`;
    const cpuUsPerDelta = ((s.serverCpuPct / 100) * s.durationMs * 1000) / Math.max(1, s.emitted);
    const needPct = (cpuUsPerDelta * s.sessions * (1000 / s.intervalMs)) / 10_000;
    const one = streaming.find((x) => x.sessions === 1);
    const noise =
      one && one.p99 > 20
        ? ` Even a single stream shows p99 ${fmtMs(one.p99)} with the server at ${one.serverCpuPct.toFixed(0)} % of a core: ` +
          'that tail is time slices lost to other processes on an oversubscribed machine, not work in the server.'
        : '';
    return (
      noise +
      ' ' +
      `The server spent ${cpuUsPerDelta.toFixed(0)} µs of CPU per delta (SSE parsing in the SDK, event JSON, the ` +
      `SQLite group commit, WebSocket fan-out), so ${s.sessions} sessions × ${1000 / s.intervalMs} deltas/s need ` +
      `≈ ${needPct.toFixed(0)} % of one core — but the server process got only ${s.serverCpuPct.toFixed(0)} % ` +
      `while the mock, the client process and other work on the machine (1-min load average ${s.loadAvg.toFixed(1)} ` +
      `on ${os.availableParallelism()} cores) competed for the CPU, and only ${s.emitted} of the ` +
      `${(s.sessions * s.durationMs) / s.intervalMs} planned deltas were even emitted. Deltas then queue in the ` +
      'server’s event loop (mostly before it reads them: the store-and-send path after a delta is parsed is ' +
      '≈ 10 ms, since a due write no longer waits for the next turn of the loop). Of the per-delta CPU, reading ' +
      'the model stream (undici’s fetch body, the SDK’s SSE parsing) is the largest part, then the store and ' +
      'the WebSocket frames; parsing the SSE ourselves instead of the SDK saved ≈ 10 % in a micro-benchmark, not ' +
      'enough to matter (notes/perf-round2.md). What would reach the target: the server alone on a core (the ' +
      'model is remote in production: the mock’s and the clients’ CPU would not be on this machine), or more ' +
      'cores and instances (PostgreSQL + Redis fan-out) — one Node process tops out near 1,000 streams at 20 ' +
      'deltas/s.'
    );
  }
  if (id === 'cold-start' && cold) {
    return (
      `Importing \`src/runtime.ts\` alone takes ${fmtMs(cold.importMedian)} (median) in a fresh process: Node type-strips ` +
      'and compiles every module, and building the zod schemas (request validation and the OpenAPI document), ' +
      'the Anthropic SDK, hono and ws dominate; opening the database and listening are small. With the V8 ' +
      `compile cache primed (\`NODE_COMPILE_CACHE\`) the same start takes ${fmtMs(cold.cachedMedian)}: ` +
      '`src/main.ts` turns that cache on, so only the first start after an install (or an image built without ' +
      'priming it) pays the full figure. What would reach it for that start too: a bundled JS build (no type ' +
      'stripping, one file to compile).'
    );
  }
  if (id === 'claude-spares' && spares) {
    return (
      'The server’s part of a ready spare’s start (claim, placing the session in the slot, the run’s token, ' +
      'handing over the prompt) is ≈ 10–30 ms; the rest is Claude Code’s own first turn — ≈ 100 ms of CPU in ' +
      'the CLI (a native binary) between receiving the prompt and sending its first request, which no spare ' +
      'can do ahead without a model turn. Switching off its attachments and bundled skills did not change it ' +
      '(notes/perf-round2.md). Spares remove the start-up: compare the cold column.'
    );
  }
  if (id === 'multi-instance-accept' && multi) {
    return (
      'CPU-bound on this machine: one instance already keeps the 2 cores ≈ 85 % busy together with ' +
      'PostgreSQL and the bench, so three instances share the same cores (see the multi-instance section: ' +
      'CPU per instance and the time each event loop waited for a core). Three instances can only accept ' +
      'more than one where there are cores for them.'
    );
  }
  return '';
}

function externalSection(): string {
  const L: string[] = [];
  if (externals.length === 0) return '';
  L.push('### Other benchmarks run by `bench/run.ts`');
  L.push('');
  for (const e of externals) {
    const when = e.durationMs ? ` (${(e.durationMs / 1000).toFixed(1)} s)` : '';
    L.push(
      `- \`${e.file}\`: ${e.status === 'absent' ? 'not present in this checkout — not measured' : e.status === 'skipped' ? 'skipped (--quick)' : e.status}${when}`,
    );
    if (e.figures) for (const [k, v] of Object.entries(e.figures)) L.push(`  - ${k}: ${fmtFigure(v)}`);
    if (e.raw) {
      L.push('');
      L.push('  ```text');
      for (const line of e.raw.trimEnd().split('\n')) L.push(`  ${line}`);
      L.push('  ```');
    }
  }
  L.push('');
  L.push('Those benchmarks document their own method in their sections of this file (when they write one).');
  return L.join('\n');
}

function coreSection(): string {
  const L: string[] = [];
  L.push('<!-- bench:core:start -->');
  L.push('## Core figures (`npm run bench`)');
  L.push('');
  L.push(
    `Measured ${date} UTC on ${machine}.${quick ? ' **Quick mode (small N): smoke figures only.**' : ''}`,
  );
  L.push(
    `1-minute load average ${loadAtStart.toFixed(1)} at the start and ${loadAtEnd.toFixed(1)} at the end of the run ` +
      `(on ${os.availableParallelism()} cores; anything above what the bench itself uses is other work on the machine, ` +
      'which the figures then include).',
  );
  L.push('');
  L.push('| Figure | Target | Measured | |');
  L.push('|---|---|---|---|');
  for (const r of rows) L.push(`| ${r.figure} | ${r.target} | ${r.measured} | ${mark(r)} |`);
  for (const [k, v] of Object.entries(errors))
    L.push(`| ${k} | | FAILED: ${v.replaceAll('|', '\\|')} | ❌ |`);
  L.push('');
  L.push(methodSection());
  L.push('');
  L.push(detailSection());
  L.push(missesSection());
  L.push('');
  const ext = externalSection();
  if (ext) {
    L.push(ext);
    L.push('');
  }
  L.push('<!-- bench:core:end -->');
  return L.join('\n');
}

function claudeCodeSection(): string {
  const L: string[] = [];
  const failed = errors['claude-code-capacity'];
  L.push('<!-- bench:claude-code:start -->');
  L.push('## Claude Code capacity (`npm run bench -- --only claude-code-capacity`)');
  L.push('');
  L.push(
    `Measured ${date} UTC on ${machine}.${quick ? ' **Quick mode (small N): smoke figures only.**' : ''} ` +
      `1-minute load average ${loadAtStart.toFixed(1)} at the start and ${loadAtEnd.toFixed(1)} at the end of the run.`,
  );
  L.push('');
  if (failed) L.push(`**FAILED:** ${failed}`);
  if (cc) {
    const last = cc.levels.at(-1);
    const why =
      cc.stoppedBy === 'p99'
        ? `the next level measured (${last?.sessions}) had p99 ${last ? fmtMs(last.p99) : 'n/a'}${last && last.received < last.emitted ? ` and lost deltas (${last.received} of ${last.emitted} received)` : ''}`
        : cc.stoppedBy === 'end'
          ? `every level planned (${cc.plannedLevels.join(', ')}) stayed under ${CC_LIMIT_MS / 1000} s, so this is a lower bound`
          : `the ramp stopped early — ${cc.stoppedBy} — so this is a lower bound`;
    L.push(
      `**Capacity: ${cc.capacity} concurrent \`claude-code\` sessions** streaming at once with the added streaming ` +
        `delay (mock emit → WebSocket receive) at p99 ≤ ${CC_LIMIT_MS / 1000} s; ${why}.`,
    );
    const fail = cc.stoppedBy === 'p99' ? last : undefined;
    if (fail && fail.cliProcesses > 0) {
      const perCli = (fail.totalRss - fail.serverRss) / fail.cliProcesses;
      const memFits = Math.floor((os.totalmem() - 3 * 1024 ** 3 - fail.serverRss) / perCli);
      L.push(
        `At ${fail.sessions} sessions the machine was ${fail.machineBusyPct.toFixed(0)} % busy (the CLIs alone ` +
          `${fail.cliCpuPct.toFixed(0)} % of a core, ≈ ${(fail.cliCpuPct / fail.sessions).toFixed(1)} % each while streaming; ` +
          `${fail.emitted} of ${(fail.sessions * cc.durationMs) / cc.intervalMs} planned deltas were emitted by the starved mock) ` +
          `with ${fmtMiBn(fail.totalRss)} resident: the limit here is CPU on ${os.availableParallelism()} cores, not memory ` +
          `(at ${fmtMiBn(perCli)} per CLI, the RAM would hold ≈ ${memFits} with 3 GiB kept free).`,
      );
    }
    L.push('');
    L.push(
      '| sessions | CLI procs | ramp (all streams open) | deltas emitted | received | p50 | p99 | max | RSS server + CLIs (server) | RSS per CLI | CPU server / CLIs / mock / clients (% of a core) | machine busy | load avg | MemAvailable before | failed runs |',
    );
    L.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const l of cc.levels) {
      const perCli = l.cliProcesses > 0 ? (l.totalRss - l.serverRss) / l.cliProcesses : Number.NaN;
      L.push(
        `| ${l.sessions} | ${l.cliProcesses} | ${(l.rampMs / 1000).toFixed(1)} s | ${l.emitted} | ${l.received} | ${fmtMs(l.p50)} | ${fmtMs(l.p99)} | ${fmtMs(l.max)} | ` +
          `${fmtMiBn(l.totalRss)} (${fmtMiBn(l.serverRss)}) | ${Number.isFinite(perCli) ? fmtMiBn(perCli) : 'n/a'} | ` +
          `${l.serverCpuPct.toFixed(0)} / ${l.cliCpuPct.toFixed(0)} / ${l.mockCpuPct.toFixed(0)} / ${l.clientCpuPct.toFixed(0)} | ` +
          `${l.machineBusyPct.toFixed(0)} % | ${l.loadAvg.toFixed(1)} | ${(l.memAvailableBefore / 1024 ** 3).toFixed(1)} GiB | ${l.failedRuns} |`,
      );
    }
    L.push('');
  }
  const native =
    streaming.length > 0
      ? `measured in this run: ${streaming.map((s) => `${s.sessions} session${s.sessions === 1 ? '' : 's'} p99 ${fmtMs(s.p99)}`).join(', ')}`
      : 'see “Added streaming delay” in the core figures above (native at 1 / 100 / 1000 sessions)';
  L.push(
    `For comparison, the \`native\` engine (no CLI process; the server itself calls the model) on the same path: ${native}. ` +
      'Its limit is CPU per delta in one process, not memory.',
  );
  L.push('');
  L.push('### Method');
  L.push('');
  L.push(
    '`bench/core/claude-code-capacity.ts`. Per level, a fresh server child (`bench/lib/server-child.ts`, the same ' +
      '`createRuntime` as `npm start`) with `AGENT_ENGINE=claude-code`, `SANDBOX=none`, `CLAUDE_MAX_PROCESSES=200`, ' +
      '`MAX_CONCURRENT_RUNS=500` and a fresh `DATA_DIR`; N sessions created with `engine: "claude-code"`, followed ' +
      `over WebSocket from a separate client process (${SESSIONS_PER_WS} sessions per connection), and each sent one ` +
      'message. Each run starts one Claude Code CLI (the SDK’s bundled binary, `includePartialMessages`), which ' +
      'reaches the timestamping mock (`bench/lib/timed-mock.ts`) through the server’s loopback LLM proxy. The mock ' +
      'answers the CLI’s side requests (no tools, or `max_tokens` ≤ 16) at once with `claudeCodeSideReply` and holds ' +
      'each main-loop request as an open stream (SSE pings only). Once all N main-loop streams are open (the ' +
      '“ramp” column: CLI start-up included), it writes one text delta every ' +
      `${DELTA_INTERVAL_MS} ms on each for ${SIZES.ccMs / 1000} s, each stamped with its emit time, then ends ` +
      'the replies (`end_turn`). Delay = client receive time − emit time per delta, same clock; the path is mock → ' +
      'LLM proxy → CLI (SSE parse, `stream_event` on stdout) → SDK in the server → event store → WebSocket. ' +
      'RSS: the sum of `VmRSS` over the server child and all its descendants from `/proc`, sampled every second of ' +
      'the window, maximum kept. CPU: `/proc/<pid>/stat` times over the window (server process, CLI processes), ' +
      '`process.cpuUsage()` of the bench (mock) and client processes, and `/proc/stat` for the whole machine. ' +
      `Levels ${cc?.plannedLevels.join(', ') ?? SIZES.ccLevels.join(', ')}, in order; the ramp stops after the ` +
      `first level with p99 > ${CC_LIMIT_MS / 1000} s (or lost deltas), or before a level when MemAvailable is under ` +
      `3 GiB or would fall under it at ≈ ${fmtMiBn(CLI_BUDGET)} per CLI. After` +
      ' each level the server is stopped and any CLI ' +
      'process still alive (they run in their own process groups) is killed.',
  );
  L.push('');
  L.push('<!-- bench:claude-code:end -->');
  return L.join('\n');
}

function claudeSparesSection(): string {
  const L: string[] = [];
  const failed = errors['claude-spares'];
  L.push('<!-- bench:claude-spares:start -->');
  L.push('## Warm Claude Code spares (`npm run bench -- --only claude-spares`)');
  L.push('');
  L.push(
    `Measured ${date} UTC on ${machine}.${quick ? ' **Quick mode (small N): smoke figures only.**' : ''} ` +
      `1-minute load average ${loadAtStart.toFixed(1)} at the start and ${loadAtEnd.toFixed(1)} at the end of the run. ` +
      `**Sandbox: ${spares?.sandbox ?? 'bwrap (required)'}** — every CLI and every command runs in bubblewrap (the part fails otherwise).`,
  );
  L.push('');
  if (failed) L.push(`**FAILED:** ${failed}`);
  if (spares) {
    L.push(
      '| server | 202 → first LLM request, sequential p50 / p99 / max | sessions at once: p50 / p99 / max | how the runs started | spares up, RSS per spare | pool full after |',
    );
    L.push('|---|---:|---:|---|---:|---:|');
    const fmtOut = (o: Record<string, number>): string =>
      Object.entries(o)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || '—';
    for (const m of spares.modes) {
      const env = Object.entries(m.env)
        .map(([k, v]) => `\`${k}=${v}\``)
        .join(' ');
      const seq = `${fmtMs(m.sequential.p50)} / ${fmtMs(m.sequential.p99)} / ${fmtMs(m.sequential.max)} (n=${m.sequential.n})`;
      const burst = m.burst
        ? `${fmtMs(m.burst.p50)} / ${fmtMs(m.burst.p99)} / ${fmtMs(m.burst.max)} (n=${m.burst.n})`
        : '—';
      const outcomes =
        m.mode === 'cold'
          ? 'cold starts (no pool)'
          : `${fmtOut(m.sequential.outcomes)}${m.burst ? `; at once: ${fmtOut(m.burst.outcomes)}` : ''}`;
      L.push(
        `| ${m.mode} (${env}) | ${seq} | ${burst} | ${outcomes} | ${m.spares ? `${m.spares}, ${fmtMiBn(m.rssPerSpare)}` : '—'} | ${m.spares ? fmtMs(m.fillMs) : '—'} |`,
      );
    }
    L.push('');
  }
  L.push('### Method');
  L.push('');
  L.push(
    '`bench/core/claude-spares.ts`. Three server children one after the other (`bench/lib/server-child.ts`, the same ' +
      '`createRuntime` as `npm start`), each with `AGENT_ENGINE=claude-code`, `SANDBOX=bwrap`, a fresh `DATA_DIR`, ' +
      'against the scripted mock LLM (Claude Code’s side requests answered by `claudeCodeSideReply`, the main loop by a ' +
      'one-word reply): **cold** (`CLAUDE_SPARES=0`: each new session’s first run starts its CLI), **ready** ' +
      `(\`CLAUDE_SPARES=CLAUDE_SPARES_READY=${spares?.burstN ?? SIZES.sparesBurst}\`: spares claimed ahead into their empty ` +
      'workspace, what a session without a repository gets) and **parked** (`CLAUDE_SPARES=2`, `CLAUDE_SPARES_READY=0`: ' +
      'claimed when the run starts, what a session with a repository gets after its clone). After the pool is full, one ' +
      'warm-up run (not counted). Sequential: a new session per message, each sent once the previous run ended and the ' +
      'pool is full again (an idle server); clock `performance.now()` in the bench process from `fetch` resolving with the ' +
      '202 to the mock receiving the first main-loop request carrying that message’s unique text. At once: ' +
      `${spares?.burstN ?? SIZES.sparesBurst} new sessions’ messages POSTed together (pool full before), the same clock ` +
      'per session. “How the runs started”: `agent_claude_spare_runs_total` by outcome over the samples. RSS: with the ' +
      'pool full and idle, `agent_claude_spares_rss_bytes` (VmRSS summed over each spare’s process tree — sh, bwrap, the ' +
      'sandbox’s init, the CLI — `src/observability/proc-tree.ts`; shared pages count once per process) divided by the ' +
      'spares up. “Pool full after”: server start to every spare up.',
  );
  L.push('');
  L.push('<!-- bench:claude-spares:end -->');
  return L.join('\n');
}

function replaceSection(existing: string, name: string, section: string): string {
  const START = `<!-- bench:${name}:start -->`;
  const END = `<!-- bench:${name}:end -->`;
  const a = existing.indexOf(START);
  const b = existing.indexOf(END);
  if (a !== -1 && b > a) return existing.slice(0, a) + section + existing.slice(b + END.length);
  if (existing.trim()) return `${existing.trimEnd()}\n\n${section}\n`;
  return (
    '# Benchmarks\n\n' +
    'Figures for this server measured on one machine. Each section is written by the benchmark named in it ' +
    'and replaced when that benchmark runs again (between its `<!-- bench:NAME:start/end -->` markers); ' +
    '`npm run bench` runs them all.\n\n' +
    `${section}\n`
  );
}

const outPath =
  values.out ??
  (quick || values['no-write'] ? undefined : new URL('../BENCHMARKS.md', import.meta.url).pathname);
if (outPath && !values['no-write']) {
  let existing = '';
  try {
    existing = readFileSync(outPath, 'utf8');
  } catch {
    existing = '';
  }
  let next = existing;
  // The core section holds every part but those with a section of their own.
  const OWN_SECTION: readonly Part[] = ['claude-code-capacity', 'claude-spares', 'multi-instance'];
  if (ALL.some((p) => !OWN_SECTION.includes(p) && want(p)))
    next = replaceSection(next, 'core', coreSection());
  if (want('claude-code-capacity')) next = replaceSection(next, 'claude-code', claudeCodeSection());
  if (want('claude-spares')) next = replaceSection(next, 'claude-spares', claudeSparesSection());
  if (want('multi-instance'))
    next = replaceSection(
      next,
      'multi-instance',
      multiInstanceSection(multi, {
        date,
        machine,
        quick,
        loadAtStart,
        loadAtEnd,
        sizes: SIZES.multiInstance,
        ...(errors['multi-instance'] ? { failed: errors['multi-instance'] } : {}),
      }),
    );
  await fs.writeFile(outPath, next);
  log(`wrote ${outPath}`);
}
log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
process.exit(Object.keys(errors).length > 0 ? 1 : 0);
