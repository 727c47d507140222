// The claude-code engine's process costs, against the mock Anthropic API on this machine:
// - time from `engine.run()` to the first request the mock receives (CLI start-up), fresh and resumed;
// - RSS of one Claude Code CLI process while a run is active (VmRSS sampled, and VmHWM at the end);
// - time from abort to the run's EngineError('aborted') while a Bash command runs.
//
//   node bench/claude-code-probe.ts [--runs N]
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { createClaudeCodeEngine } from '../src/agent/claude-code/engine.ts';
import type { EngineRunContext } from '../src/agent/engine.ts';
import { loadConfig } from '../src/config.ts';
import { createBugfixRepo } from '../src/mock-llm/fixtures.ts';
import {
  bugfixScenario,
  claudeCodeSideReply,
  isClaudeCodeSideRequest,
  startMockLlm,
  textReply,
  toolCall,
  turnIndex,
} from '../src/mock-llm/index.ts';
import { silentLogger } from '../src/observability/logger.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const RUNS = Math.max(1, Number(values.runs) || 5);
const run = promisify(execFile);

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const med = s[Math.floor(s.length / 2)]!;
  return `median ${med.toFixed(0)} (min ${s[0]!.toFixed(0)}, max ${s.at(-1)!.toFixed(0)}, n=${s.length})`;
}

const root = await mkdtemp(path.join(os.tmpdir(), 'cc-probe-'));
const mock = await startMockLlm();
try {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: root,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'bench',
    GIT_AUTHOR_EMAIL: 'bench@example.com',
    GIT_COMMITTER_NAME: 'bench',
    GIT_COMMITTER_EMAIL: 'bench@example.com',
  };
  const config = loadConfig({
    DATA_DIR: path.join(root, 'data'),
    ANTHROPIC_API_KEY: 'bench',
    ANTHROPIC_BASE_URL: mock.url,
    AGENT_MODEL: 'claude-sonnet-4-5',
  });
  let pid: number | undefined;
  const engine = createClaudeCodeEngine({ config, logger: silentLogger, onSpawn: (p) => (pid = p) });

  const ctxFor = (
    ws: string,
    sessionId: string,
    input: string,
    engineState: Record<string, unknown> = {},
  ) => {
    const controller = new AbortController();
    const ctx: EngineRunContext = {
      runId: `r-${Math.random().toString(36).slice(2)}`,
      sessionId,
      model: 'claude-sonnet-4-5',
      history: [],
      input,
      workspace: ws,
      tools: [],
      engineState,
      env,
      signal: controller.signal,
      emit: () => {},
    };
    return { ctx, controller };
  };

  const firstFresh: number[] = [];
  const firstResumed: number[] = [];
  const wall: number[] = [];
  const rssSamples: number[] = [];
  const hwm: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const dir = path.join(root, `repo-${i}`);
    const { bareRepo } = await createBugfixRepo(dir);
    const ws = path.join(dir, 'ws');
    await run('git', ['clone', '-q', bareRepo, ws], { env });

    // Bugfix scenario; sample the CLI's RSS on every LLM request (the CLI is alive and busy).
    const base = bugfixScenario('claude-code');
    mock.setResponder((req, info) => {
      if (pid !== undefined) {
        const rss = statusKb(pid, 'VmRSS');
        if (rss) rssSamples.push(rss / 1024);
        const peak = statusKb(pid, 'VmHWM');
        if (peak && turnIndex(req) >= 5) hwm.push(peak / 1024);
      }
      return base(req, info);
    });
    let t0 = performance.now();
    let first: number | undefined;
    const off = mock.onRequest(() => {
      first ??= performance.now() - t0;
    });
    const { ctx } = ctxFor(ws, `s-${i}`, 'Fix the bug, run the tests, commit and push.');
    const r1 = await engine.run(ctx);
    wall.push(performance.now() - t0);
    off();
    if (first !== undefined) firstFresh.push(first);

    // Resumed run (transcript load included).
    mock.setResponder((req) => (isClaudeCodeSideRequest(req) ? claudeCodeSideReply(req) : textReply('ok')));
    first = undefined;
    t0 = performance.now();
    const off2 = mock.onRequest(() => {
      first ??= performance.now() - t0;
    });
    await engine.run(ctxFor(ws, `s-${i}`, 'Anything else?', r1.engineState).ctx);
    off2();
    if (first !== undefined) firstResumed.push(first);
  }

  // Interrupt latency: abort while a Bash command runs.
  const interrupt: number[] = [];
  for (let i = 0; i < Math.min(RUNS, 3); i++) {
    const ws = await mkdtemp(path.join(root, 'int-'));
    mock.setResponder((req) => {
      if (isClaudeCodeSideRequest(req)) return claudeCodeSideReply(req);
      return turnIndex(req) === 0
        ? toolCall('Bash', { command: 'node -e "setTimeout(() => {}, 30000)"', description: 'wait' })
        : textReply('done');
    });
    const { ctx, controller } = ctxFor(ws, `int-${i}`, 'wait');
    let started!: () => void;
    const bashStarted = new Promise<void>((r) => (started = r));
    ctx.emit = (e) => {
      if (e.type === 'tool.started') setTimeout(started, 300);
    };
    const p = engine.run(ctx);
    await bashStarted;
    const t = performance.now();
    controller.abort();
    await p.catch(() => {});
    interrupt.push(performance.now() - t);
  }

  console.log(
    `Claude Code CLI (${process.platform}-${process.arch}, ${os.cpus().length} CPUs, node ${process.version})`,
  );
  console.log(`  engine.run() → first LLM request, fresh conversation: ${stats(firstFresh)} ms`);
  console.log(`  engine.run() → first LLM request, resumed conversation: ${stats(firstResumed)} ms`);
  console.log(`  bugfix scenario (6 LLM turns, 5 tools) wall time: ${stats(wall)} ms`);
  console.log(`  CLI RSS while active (VmRSS at each LLM request): ${stats(rssSamples)} MiB`);
  console.log(`  CLI peak RSS (VmHWM at the last turn): ${stats(hwm)} MiB`);
  console.log(`  abort → EngineError('aborted') during a Bash command: ${stats(interrupt)} ms`);
  await engine.close?.();
} finally {
  await mock.close();
  await rm(root, { recursive: true, force: true });
}
