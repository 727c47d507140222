// Claude Code capacity: how many concurrent `claude-code` sessions this machine holds before the added
// streaming delay (the mock emits a text delta → the WebSocket client receives it) passes 1 s at p99.
//
// Per level n (a fresh server child with AGENT_ENGINE=claude-code each time): n sessions created with
// `engine: 'claude-code'`, followed over WebSocket from the client process, each sent a message. Every
// run starts one Claude Code CLI (through the server's LLM proxy to the timestamping mock); the mock
// answers the CLI's side requests (no tools / tiny max_tokens) with `claudeCodeSideReply` and holds
// each main-loop request as an open stream (SSE pings only). Once all n streams are open, the mock
// streams one stamped delta every `intervalMs` on each for `durationMs`, then ends them (end_turn).
// The path measured is: mock → LLM proxy (server) → CLI (SSE parse, stream_event on stdout) → SDK in
// the server → event store → WebSocket → client process.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { claudeCodeSideReply, isClaudeCodeSideRequest } from '../../src/mock-llm/scenarios.ts';
import type { MessagesRequest } from '../../src/mock-llm/types.ts';
import { call } from '../lib/api.ts';
import { type ProcStat, processTree, readProcStat } from '../lib/proc-cpu.ts';
import { type ServerProc, startServerProc } from '../lib/server-proc.ts';
import { percentile, pool, sleep, until } from '../lib/stats.ts';
import { startTimedMock } from '../lib/timed-mock.ts';
import { startWsClients } from '../lib/ws-clients.ts';

export interface CapacityLevel {
  sessions: number;
  /** CLI processes alive during the window (descendants of the server other than the server) */
  cliProcesses: number;
  emitted: number;
  received: number;
  p50: number;
  p99: number;
  max: number;
  /** time from the first message sent to all n LLM streams open */
  rampMs: number;
  /** VmRSS sum of the server child and all its descendants, max over the window */
  totalRss: number;
  /** the server process alone (same sample) */
  serverRss: number;
  /** % of one core over the window */
  serverCpuPct: number;
  cliCpuPct: number;
  mockCpuPct: number;
  clientCpuPct: number;
  /** whole machine, % of all cores busy over the window (/proc/stat) */
  machineBusyPct: number;
  loadAvg: number;
  /** MemAvailable before the level */
  memAvailableBefore: number;
  failedRuns: number;
}

export interface CapacityResult {
  levels: CapacityLevel[];
  /** the largest level measured with p99 ≤ limit (0: none) */
  capacity: number;
  /** why the ramp stopped: 'p99' | 'memory' | 'end' | 'error: …' */
  stoppedBy: string;
  limitMs: number;
  intervalMs: number;
  durationMs: number;
  plannedLevels: number[];
}

const KB = 1024;
const MIN_FREE = 3 * 1024 ** 3;
/** RSS budgeted per CLI process when deciding whether a level fits (measured ≈ 195–220 MiB each with 1–64 running). */
export const CLI_BUDGET = 230 * 1024 ** 2;

export function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * KB : os.freemem();
}

function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * KB : 0;
  } catch {
    return 0;
  }
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on every Linux build in practice). */
const HZ = 100;

/** SIGKILLs every process of `tracked` still alive (same pid and start time) and its process group. */
function killTracked(tracked: Map<number, number>): number {
  let killed = 0;
  for (const [pid, start] of tracked) {
    const p = readProcStat(pid);
    if (!p || p.start !== start) continue;
    try {
      process.kill(-pid, 'SIGKILL'); // the CLI leads its own process group (detached)
    } catch {
      // not a group leader
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
    killed++;
  }
  return killed;
}

async function createCcSession(base: string, title: string): Promise<string> {
  const r = await call<{ id: string }>(base, 'POST', '/api/sessions', { title, engine: 'claude-code' });
  if (r.status !== 201) throw new Error(`POST /api/sessions → ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.id;
}

const divert = (body: unknown): string | undefined => {
  if (typeof body !== 'object' || body === null) return undefined;
  const req = body as MessagesRequest;
  if (!isClaudeCodeSideRequest(req)) return undefined;
  const reply = claudeCodeSideReply(req);
  return reply.blocks.map((b) => (b.type === 'text' ? b.text : '')).join('');
};

async function measureLevel(
  n: number,
  opts: { intervalMs: number; durationMs: number; perConn: number; log: (s: string) => void },
): Promise<CapacityLevel> {
  const memAvailableBefore = memAvailable();
  const mock = await startTimedMock({
    intervalMs: opts.intervalMs,
    holdIntervalMs: 0,
    holdPingMs: 5_000,
    deltasPerStream: Infinity,
    divert,
  });
  let server: ServerProc | undefined;
  const tracked = new Map<number, number>();
  const track = (): ProcStat[] => {
    const tree = server ? processTree(server.pid) : [];
    for (const p of tree) if (p.pid !== server?.pid) tracked.set(p.pid, p.start);
    return tree;
  };
  try {
    server = await startServerProc(mock.url, {
      AGENT_ENGINE: 'claude-code',
      SANDBOX: 'none',
      CLAUDE_MAX_PROCESSES: '200',
      MAX_CONCURRENT_RUNS: '500',
    });
    const srv = server;
    const ids = await pool(
      Array.from({ length: n }, (_, i) => i),
      8,
      (i) => createCcSession(srv.url, `cc-capacity-${i}`),
    );
    const clients = await startWsClients(srv.wsUrl, ids, opts.perConn);
    try {
      const rampStart = performance.now();
      await pool(ids, 8, async (id) => {
        const r = await call<{ runId: string }>(srv.url, 'POST', `/api/sessions/${id}/messages`, {
          content: 'Write a long answer.',
        });
        if (r.status !== 202) throw new Error(`POST messages → ${r.status}: ${JSON.stringify(r.body)}`);
      });
      // All n CLIs started and their main-loop streams open; give up if memory runs short meanwhile.
      const deadline = Date.now() + 60_000 + n * 3_000;
      while (mock.open < n) {
        if (Date.now() > deadline) throw new Error(`only ${mock.open}/${n} LLM streams open`);
        if (memAvailable() < MIN_FREE / 2)
          throw new Error(`memory: ${(memAvailable() / 1024 ** 3).toFixed(1)} GiB available while ramping`);
        const st = await clients.status();
        if (st.failed > 0) throw new Error(`${st.failed} runs failed before streaming`);
        track();
        await sleep(100);
      }
      const rampMs = performance.now() - rampStart;
      await sleep(500);
      const tree0 = track();
      const cliPids = tree0.filter((p) => p.pid !== srv.pid);
      opts.log(
        `  ${n} claude-code runs streaming-ready in ${(rampMs / 1000).toFixed(1)} s (${cliPids.length} CLI processes); streaming for ${opts.durationMs} ms`,
      );
      await clients.collect(); // nothing should be there: streams held with pings only
      const ticks = (pids: ProcStat[]): number =>
        pids.reduce((sum, p) => {
          const now = readProcStat(p.pid);
          return sum + (now?.start === p.start ? now.own : 0);
        }, 0);
      const srv0 = readProcStat(srv.pid)?.own ?? 0;
      const cli0 = ticks(cliPids);
      const cl0 = await clients.cpu();
      const m0 = machineTicks();
      const me0 = { c: process.cpuUsage(), at: performance.now() };
      mock.go();
      const goAt = mock.goAt;
      let totalRss = 0;
      let serverRss = 0;
      const end = performance.now() + opts.durationMs;
      while (performance.now() < end) {
        await sleep(Math.min(1_000, Math.max(0, end - performance.now())));
        const tree = track();
        const total = tree.reduce((a, p) => a + rssOf(p.pid), 0);
        if (total > totalRss) {
          totalRss = total;
          serverRss = rssOf(srv.pid);
        }
      }
      const wall = performance.now() - me0.at;
      const srv1 = readProcStat(srv.pid)?.own ?? 0;
      const cli1 = ticks(cliPids);
      const cl1 = await clients.cpu();
      const m1 = machineTicks();
      const me1 = process.cpuUsage(me0.c);
      const loadAvg = os.loadavg()[0] ?? 0;
      const emitted = mock.emitted;
      mock.finish();
      await until(
        async () => (await clients.status()).terminal >= n,
        60_000 + n * 1_000,
        `${n} runs to finish`,
        100,
      );
      await sleep(200);
      const s = await clients.collect();
      const delay = s.delay.filter((_, i) => (s.emit[i] ?? 0) >= goAt);
      const tickPct = (t: number): number => (100 * (t / HZ) * 1000) / wall;
      return {
        sessions: n,
        cliProcesses: cliPids.length,
        emitted,
        received: delay.length,
        p50: percentile(delay, 50),
        p99: percentile(delay, 99),
        max: percentile(delay, 100),
        rampMs,
        totalRss,
        serverRss,
        serverCpuPct: tickPct(srv1 - srv0),
        cliCpuPct: tickPct(cli1 - cli0),
        mockCpuPct: (100 * (me1.user + me1.system)) / 1000 / wall,
        clientCpuPct:
          (100 * (cl1.userUs - cl0.userUs + cl1.systemUs - cl0.systemUs)) / 1000 / (cl1.at - cl0.at),
        machineBusyPct: (100 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total),
        loadAvg,
        memAvailableBefore,
        failedRuns: s.failed,
      };
    } finally {
      await clients.close();
    }
  } finally {
    mock.finish();
    track();
    await server?.stop();
    // The server's shutdown stops its CLIs; any left (own process groups, detached) are killed here.
    await sleep(200);
    const killed = killTracked(tracked);
    if (killed > 0) opts.log(`  killed ${killed} leftover CLI process(es)`);
    await mock.close();
  }
}

export async function benchClaudeCodeCapacity(
  levels: number[],
  opts: {
    intervalMs: number;
    durationMs: number;
    perConn: number;
    limitMs: number;
    log: (s: string) => void;
  },
): Promise<CapacityResult> {
  const out: CapacityLevel[] = [];
  let stoppedBy = 'end';
  for (const n of levels) {
    const avail = memAvailable();
    const need = n * CLI_BUDGET;
    if (avail < MIN_FREE || avail - need < MIN_FREE) {
      stoppedBy = `memory (${(avail / 1024 ** 3).toFixed(1)} GiB available before ${n} sessions, which need ≈ ${(need / 1024 ** 3).toFixed(1)} GiB; 3 GiB kept free)`;
      opts.log(`  stop: ${stoppedBy}`);
      break;
    }
    opts.log(`  level ${n}`);
    let level: CapacityLevel;
    try {
      level = await measureLevel(n, opts);
    } catch (err) {
      stoppedBy = `error at ${n} sessions: ${err instanceof Error ? err.message : String(err)}`;
      opts.log(`  stop: ${stoppedBy}`);
      if (out.length === 0) throw err;
      break;
    }
    out.push(level);
    opts.log(
      `  ${n}: p50 ${level.p50.toFixed(1)} ms, p99 ${level.p99.toFixed(1)} ms, RSS ${(level.totalRss / 1024 ** 2).toFixed(0)} MiB, ` +
        `CPU server ${level.serverCpuPct.toFixed(0)} % CLIs ${level.cliCpuPct.toFixed(0)} %, machine ${level.machineBusyPct.toFixed(0)} % busy`,
    );
    if (!(level.p99 <= opts.limitMs) || level.received < level.emitted) {
      stoppedBy = 'p99';
      break;
    }
  }
  let capacity = 0;
  for (const l of out)
    if (l.p99 <= opts.limitMs && l.received >= l.emitted) capacity = Math.max(capacity, l.sessions);
  return {
    levels: out,
    capacity,
    stoppedBy,
    limitMs: opts.limitMs,
    intervalMs: opts.intervalMs,
    durationMs: opts.durationMs,
    plannedLevels: levels,
  };
}
