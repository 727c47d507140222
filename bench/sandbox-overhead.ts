// Benchmark probe: latency of running `true` through the process runner with the bubblewrap
// sandbox vs without (noSandbox), and of an `fs read` of a small file through the fs tool (its
// descriptor walk beneath the workspace) vs a plain readFile of the same path.
// Usage: node bench/sandbox-overhead.ts [iterations=200]
// Prints p50/p90/p99 (ms) for each mode and the added p50/p99.
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.ts';
import { createBwrapSandbox } from '../src/sandbox/bwrap/bwrap.ts';
import { buildChildEnv } from '../src/sandbox/child-env.ts';
import { runProcess } from '../src/sandbox/process-runner.ts';
import { noSandbox, type SandboxWrapper } from '../src/sandbox/types.ts';
import { WorkspaceManager } from '../src/sandbox/workspace/manager.ts';
import { createFsTool } from '../src/tools/fs.ts';
import type { ToolContext } from '../src/tools/types.ts';

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

async function timed(fn: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < iterations + 10; i++) {
    const t0 = performance.now();
    await fn();
    if (i >= 10) times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b);
}

const tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'sbx-bench-')));
try {
  const config = loadConfig({ DATA_DIR: tmp, SANDBOX: 'bwrap' });
  const sb = createBwrapSandbox({ config, dataDir: tmp });
  await sb.ready();
  // Through the manager: on a root server the workspace belongs to the session's own uid.
  const wm = new WorkspaceManager(tmp, { identities: sb.identities });
  const ws = await wm.ensure('bench');
  const env = buildChildEnv(config, { home: await wm.homeFor('bench'), workspace: ws });
  const none = await measure(noSandbox, ws, env);
  const bw = await measure(sb, ws, env);
  // fs read: a 2 KB file three directories deep.
  await mkdir(path.join(ws, 'src', 'lib', 'util'), { recursive: true });
  const file = path.join(ws, 'src', 'lib', 'util', 'file.ts');
  await writeFile(file, 'export const x = 1;\n'.repeat(100));
  const fsTool = createFsTool({ config });
  const ctx: ToolContext = {
    workspace: ws,
    runId: 'r',
    sessionId: 'bench',
    signal: new AbortController().signal,
    onOutput: () => {},
    env,
  };
  const plain = await timed(() => readFile(file, 'utf8'));
  const tool = await timed(async () => {
    const r = await fsTool.execute({ operation: 'read', path: 'src/lib/util/file.ts' }, ctx);
    if (r.isError) throw new Error(r.output);
  });
  await sb.close();
  const row = (name: string, t: number[]) =>
    `${name.padEnd(9)} p50 ${pct(t, 50).toFixed(2)} ms  p90 ${pct(t, 90).toFixed(2)} ms  p99 ${pct(t, 99).toFixed(2)} ms`;
  const added = (name: string, a: number[], b: number[]) =>
    `${name.padEnd(9)} p50 ${(pct(a, 50) - pct(b, 50)).toFixed(2)} ms  p99 ${(pct(a, 99) - pct(b, 99)).toFixed(2)} ms`;
  console.log(
    `iterations: ${iterations}; sandbox: mode=${sb.info.mode} seccomp=${sb.info.seccomp} userns=${sb.info.userns} cgroup=${JSON.stringify(sb.info.cgroup)}`,
  );
  console.log('bash true (process runner):');
  console.log(row('none', none));
  console.log(row('bwrap', bw));
  console.log(added('added', bw, none));
  console.log('fs read (2 KB file, 3 levels deep):');
  console.log(row('readFile', plain));
  console.log(row('fs tool', tool));
  console.log(added('added', tool, plain));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
