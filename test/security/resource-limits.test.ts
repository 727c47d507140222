// Resource attacks through the `bash` tool: fork bomb, output flood, huge file, memory blow-up and
// processes that try to outlive the call. Limits are ON (small) before any of these runs, and the
// fork-bomb/memory tests refuse to run unless the sandbox actually applies them.
import { statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { sleep } from '../helpers/sleep.ts';
import { hostProcesses, makeSecFixture, type SecFixture, TEST_LIMITS, uniqueMarker } from './helpers.ts';

let fx: SecFixture;
beforeAll(async () => {
  if (HAS_BWRAP) fx = await makeSecFixture();
});
afterAll(() => fx?.cleanup());

async function expectNoSurvivors(marker: string): Promise<void> {
  // Give the kernel a moment to reap the namespace.
  for (let i = 0; i < 20 && hostProcesses(marker).length > 0; i++) await sleep(50);
  expect(hostProcesses(marker)).toEqual([]);
}

describe.skipIf(!HAS_BWRAP)('resource limits', () => {
  it('a fork bomb is contained: the call ends at its timeout and the host can still fork', async (t) => {
    // Never without a process limit: RLIMIT_NPROC does nothing for uid 0, so as root we need the cgroup.
    if (!fx.sandbox.info.cgroup.pids && process.getuid?.() === 0) t.skip();
    const started = Date.now();
    const r = await fx.bash(':(){ :|:& };:; sleep 30', 2000);
    expect(r.isError).toBe(true);
    expect(r.output).toMatch(/timed out after 2000 ms/);
    expect(Date.now() - started).toBeLessThan(10_000);
    // The machine stays responsive: the server process can still start processes quickly.
    const t0 = Date.now();
    const probe = await fx.bash('echo alive', 5000);
    expect(probe.output).toContain('alive');
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('the fork bomb hits the process limit (fork fails) instead of the host pid table', async (t) => {
    if (!fx.sandbox.info.cgroup.pids && process.getuid?.() === 0) t.skip();
    const n = TEST_LIMITS.maxProcesses ?? 128;
    const script =
      "const { spawn } = require('node:child_process'); let failed = 0;" +
      ` for (let i = 0; i < ${n * 2}; i++) { try { spawn('sleep', ['3']).on('error', () => failed++); } catch { failed++; } }` +
      " setTimeout(() => console.log('procs=' + require('node:fs').readdirSync('/proc').filter((x) => /^[0-9]+$/.test(x)).length + ' failed=' + failed), 1000);";
    const r = await fx.bash(`node -e "${script}"`, 8000);
    const m = /procs=(\d+) failed=(\d+)/.exec(r.output);
    expect(m, r.output).not.toBeNull();
    expect(Number(m?.[1])).toBeLessThanOrEqual(n);
    expect(Number(m?.[2])).toBeGreaterThan(0);
  });

  it('a `yes` flood is capped and ends at the timeout', async () => {
    const r = await fx.bash('yes', 1500);
    expect(r.isError).toBe(true);
    expect(r.output.length).toBeLessThan(fx.config.toolOutputLimit + 500);
    expect(r.output).toMatch(/truncated \d+ bytes/);
    expect(r.output).toMatch(/timed out/);
    expect(fx.streamed.bytes).toBeGreaterThan(0);
  });

  it('dd of an 11 GB file fails fast on the file-size limit', async () => {
    const started = Date.now();
    const r = await fx.bash('dd if=/dev/zero of=big bs=1M count=11000 2>&1; echo "rc=$?"', 60_000);
    expect(r.output).toMatch(/File size limit exceeded|rc=153/);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(statSync(path.join(fx.workspace, 'big')).size).toBeLessThanOrEqual(TEST_LIMITS.fileSizeBytes ?? 0);
    await fx.bash('rm -f big');
  });

  it('a memory blow-up (node allocating 8 GB) is killed', async (t) => {
    if (!fx.sandbox.info.cgroup.memory && fx.sandbox.info.addressSpaceBytes === 0) t.skip();
    const r = await fx.bash(
      'node -e "const a=[]; for (let i=0;i<128;i++) a.push(Buffer.alloc(64*1024*1024, 1)); console.log(\'ALLOC\' + \'ATED\')"; echo "rc=$?"',
      30_000,
    );
    expect(r.output).not.toContain('ALLOCATED');
    expect(r.output).toMatch(/rc=(137|134|133|1)\b|Killed|out of memory/i);
  });

  it('sleep &, nohup, setsid and double-fork children do not survive the call', async () => {
    const m = uniqueMarker();
    const r = await fx.bash(
      `sleep ${m}1 & nohup sleep ${m}2 >/dev/null 2>&1 & setsid sleep ${m}3 & (sleep ${m}4 &) ; ` +
        `(setsid sh -c "sleep ${m}5 & disown" &); disown -a; echo started`,
    );
    expect(r.output).toContain('started');
    await expectNoSurvivors(m);
  });

  it('the wall-clock timeout kills the whole tree, setsid escapees included', async () => {
    const m = uniqueMarker();
    const r = await fx.bash(
      `setsid sleep ${m}1 & nohup sleep ${m}2 & (setsid sleep ${m}3 &); sleep ${m}4`,
      800,
    );
    expect(r.output).toMatch(/timed out after 800 ms/);
    await expectNoSurvivors(m);
  });

  it('aborting the run kills the tree too', async () => {
    const m = uniqueMarker();
    const ac = new AbortController();
    const tool = fx.tools.get('bash');
    if (!tool) throw new Error('no bash');
    setTimeout(() => ac.abort(), 500);
    const r = await tool.execute(tool.input.parse({ command: `setsid sleep ${m}1 & sleep ${m}2` }), {
      ...fx.ctx,
      signal: ac.signal,
    });
    expect(r.output).toContain('[killed]');
    await expectNoSurvivors(m);
  });
});
