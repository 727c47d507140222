import { readFileSync } from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { runProcess } from '../../src/sandbox/process-runner.ts';
import { noSandbox, type ProcessSpec } from '../../src/sandbox/types.ts';
import { sleep } from '../helpers/sleep.ts';

const env = { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8' };
const sh = (script: string): ProcessSpec => ({
  command: 'bash',
  args: ['-c', script],
  cwd: os.tmpdir(),
  workspace: os.tmpdir(),
  env,
});

/** Alive and not a zombie (a container's init may not reap orphans promptly). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function eventuallyDead(pid: number): Promise<boolean> {
  for (let i = 0; i < 40; i++) {
    if (!alive(pid)) return true;
    await sleep(50);
  }
  return false;
}

function firstPid(output: string): number {
  const m = /PID=(\d+)/.exec(output);
  if (!m) throw new Error(`no pid in ${output}`);
  return Number(m[1]);
}

describe('runProcess', () => {
  it('returns exit code and interleaved output without throwing on failure', async () => {
    const res = await runProcess(sh('echo out; echo err >&2; exit 3'), {
      sandbox: noSandbox,
      timeoutMs: 10_000,
      outputLimit: 1000,
    });
    expect(res.exitCode).toBe(3);
    expect(res.output).toContain('out');
    expect(res.output).toContain('err');
    expect(res.timedOut).toBe(false);
    expect(res.truncated).toBe(false);
  });

  it('passes stdin when given and closes it otherwise', async () => {
    // `cat` itself: bash with a socket on stdin would source ~/.bashrc (the "run by sshd" heuristic).
    const withInput = await runProcess(
      { ...sh(''), command: 'cat', args: [] },
      { sandbox: noSandbox, timeoutMs: 5000, outputLimit: 100, stdin: 'hi' },
    );
    expect(withInput.output).toBe('hi');
    const without = await runProcess(sh('cat; echo done'), {
      sandbox: noSandbox,
      timeoutMs: 5000,
      outputLimit: 100,
    });
    expect(without.output).toBe('done\n');
  });

  it('keeps 50 MB of output bounded', async () => {
    let streamed = 0;
    const res = await runProcess(sh('yes | head -c 50000000'), {
      sandbox: noSandbox,
      timeoutMs: 60_000,
      outputLimit: 10_000,
      onOutput: (_s, chunk) => {
        streamed += chunk.length;
      },
    });
    expect(res.exitCode).toBe(0);
    expect(res.truncated).toBe(true);
    expect(res.output.length).toBeLessThan(10_100);
    expect(res.output).toMatch(/…\[truncated 4999\d{4} bytes\]…/);
    expect(streamed).toBe(50_000_000);
  });

  it('streams UTF-8 split across chunks intact', async () => {
    let text = '';
    const res = await runProcess(sh(`printf '\\xe2\\x82'; sleep 0.1; printf '\\xac done'`), {
      sandbox: noSandbox,
      timeoutMs: 5000,
      outputLimit: 100,
      onOutput: (_s, chunk) => {
        text += chunk;
      },
    });
    expect(text).toBe('€ done');
    expect(res.output).toBe('€ done');
  });

  it('kills the whole process group on timeout', async () => {
    const res = await runProcess(sh('sleep 100 & echo PID=$!; wait'), {
      sandbox: noSandbox,
      timeoutMs: 500,
      outputLimit: 1000,
    });
    expect(res.timedOut).toBe(true);
    expect(res.exitCode).toBeNull();
    expect(res.signal).toBe('SIGKILL');
    expect(res.durationMs).toBeLessThan(5000);
    expect(await eventuallyDead(firstPid(res.output))).toBe(true);
  });

  it('kills background children left behind after a normal exit', async () => {
    const res = await runProcess(
      sh('sleep 100 & echo PID=$!; nohup sleep 100 >/dev/null 2>&1 & echo PID2=$!; exit 0'),
      {
        sandbox: noSandbox,
        timeoutMs: 10_000,
        outputLimit: 1000,
      },
    );
    expect(res.exitCode).toBe(0);
    expect(res.durationMs).toBeLessThan(5000);
    expect(await eventuallyDead(firstPid(res.output))).toBe(true);
    expect(await eventuallyDead(Number(/PID2=(\d+)/.exec(res.output)?.[1]))).toBe(true);
  });

  it('kills the group on abort', async () => {
    const ac = new AbortController();
    let pidText = '';
    const p = runProcess(sh('sleep 100 & echo PID=$!; wait'), {
      sandbox: noSandbox,
      timeoutMs: 60_000,
      outputLimit: 1000,
      signal: ac.signal,
      onOutput: (_s, chunk) => {
        pidText += chunk;
        if (pidText.includes('\n')) ac.abort();
      },
    });
    const res = await p;
    expect(res.aborted).toBe(true);
    expect(res.timedOut).toBe(false);
    expect(await eventuallyDead(firstPid(res.output))).toBe(true);
  });

  it('does not start when already aborted, and reports spawn failures', async () => {
    const ac = new AbortController();
    ac.abort();
    const res = await runProcess(sh('echo no'), {
      sandbox: noSandbox,
      timeoutMs: 1000,
      outputLimit: 100,
      signal: ac.signal,
    });
    expect(res.aborted).toBe(true);
    expect(res.output).toBe('');
    const missing = await runProcess(
      { ...sh(''), command: 'definitely-not-a-command-xyz', args: [] },
      { sandbox: noSandbox, timeoutMs: 1000, outputLimit: 1000 },
    );
    expect(missing.exitCode).toBeNull();
    expect(missing.spawnError).toMatch(/ENOENT/);
  });

  it('uses the command the sandbox wrapper returns', async () => {
    const res = await runProcess(sh('echo inner'), {
      sandbox: {
        kind: 'none',
        wrap: (s) => ({ command: 'echo', args: ['wrapped', ...s.args], env: s.env, cwd: s.cwd }),
      },
      timeoutMs: 1000,
      outputLimit: 100,
    });
    expect(res.output).toBe('wrapped -c echo inner\n');
  });
});
