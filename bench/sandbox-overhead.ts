// Benchmark probe: latency of running `true` through the process runner with the bubblewrap
// sandbox vs without (noSandbox). Usage: node bench/sandbox-overhead.ts [iterations=200]
// Prints p50/p90/p99 (ms) for each mode and the added p50/p99.
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.ts';
import { createBwrapSandbox } from '../src/sandbox/bwrap.ts';
import { buildChildEnv } from '../src/sandbox/child-env.ts';
import { runProcess } from '../src/sandbox/process-runner.ts';
import { noSandbox, type SandboxWrapper } from '../src/sandbox/types.ts';
import { WorkspaceManager } from '../src/sandbox/workspace.ts';

const iterations = Number(process.argv[2] ?? 200);

function pct(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

async function measure(sandbox: SandboxWrapper, ws: string, env: Record<string, string>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < iterations + 10; i++) {
    const t0 = performance.now();
    const r = await runProcess(
      { command: 'true', args: [], cwd: ws, workspace: ws, env },
      { sandbox, timeoutMs: 10_000, outputLimit: 10_000 },
    );
    const dt = performance.now() - t0;
    if (r.exitCode !== 0) throw new Error(`true failed under ${sandbox.kind}: ${r.output}`);
    if (i >= 10) times.push(dt); // warm-up
  }
  return times.sort((a, b) => a - b);
}

const tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'sbx-bench-')));
try {
  const config = loadConfig({ DATA_DIR: tmp, SANDBOX: 'bwrap' });
  const wm = new WorkspaceManager(tmp);
  const ws = await wm.ensure('bench');
  const env = buildChildEnv(config, { home: await wm.homeFor('bench'), workspace: ws });
  const sb = createBwrapSandbox({ config, dataDir: tmp });
  await sb.ready();
  const none = await measure(noSandbox, ws, env);
  const bw = await measure(sb, ws, env);
  await sb.close();
  const row = (name: string, t: number[]) =>
    `${name.padEnd(6)} p50 ${pct(t, 50).toFixed(2)} ms  p90 ${pct(t, 90).toFixed(2)} ms  p99 ${pct(t, 99).toFixed(2)} ms`;
  console.log(
    `iterations: ${iterations}; sandbox: userns=${sb.info.userns} cgroup=${JSON.stringify(sb.info.cgroup)}`,
  );
  console.log(row('none', none));
  console.log(row('bwrap', bw));
  console.log(
    `added  p50 ${(pct(bw, 50) - pct(none, 50)).toFixed(2)} ms  p99 ${(pct(bw, 99) - pct(none, 99)).toFixed(2)} ms`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
