// Per-run sandbox resource use from the cgroups of its process trees: the files of cgroup v2
// (cpu.stat, memory.peak) and v1 (memory.max_usage_in_bytes) read into figures that are ABSENT
// when the kernel does not give them (never zero), the per-workspace tally, and a real bubblewrap
// process whose peak memory is measured when this machine's cgroups allow it.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { type BwrapSandbox, createBwrapSandbox } from '../../src/sandbox/bwrap/bwrap.ts';
import { readCgroupUsage } from '../../src/sandbox/bwrap/cgroup-usage.ts';
import { runProcess } from '../../src/sandbox/process-runner.ts';
import { SandboxUsageMeter } from '../../src/sandbox/usage.ts';
import { WorkspaceManager } from '../../src/sandbox/workspace/manager.ts';
import { HAS_BWRAP } from '../helpers/bwrap.ts';

describe('readCgroupUsage', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'cg-usage-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const dir = (name: string, files: Record<string, string>) => {
    const d = path.join(tmp, name);
    mkdirSync(d, { recursive: true });
    for (const [f, content] of Object.entries(files)) writeFileSync(path.join(d, f), content);
    return d;
  };

  it('cgroup v2: CPU from cpu.stat and peak memory from memory.peak', () => {
    const d = dir('v2', {
      'cpu.stat': 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n',
      'memory.peak': '73400320\n',
    });
    expect(
      readCgroupUsage([
        { dir: d, controller: 'pids', version: 2 },
        { dir: d, controller: 'memory', version: 2 },
      ]),
    ).toEqual({ cpuS: 2.5, peakMemoryBytes: 73_400_320 });
    // pids only (memory not delegated): CPU still, memory absent
    expect(readCgroupUsage([{ dir: d, controller: 'pids', version: 2 }])).toEqual({ cpuS: 2.5 });
  });

  it('cgroup v1: peak memory only; missing or garbled files leave figures absent, not zero', () => {
    const mem = dir('v1mem', { 'memory.max_usage_in_bytes': '1048576' });
    const pids = dir('v1pids', { 'pids.max': '512' });
    expect(
      readCgroupUsage([
        { dir: pids, controller: 'pids', version: 1 },
        { dir: mem, controller: 'memory', version: 1 },
      ]),
    ).toEqual({ peakMemoryBytes: 1_048_576 });
    expect(readCgroupUsage([{ dir: path.join(tmp, 'gone'), controller: 'memory', version: 2 }])).toEqual({});
    const bad = dir('bad', { 'cpu.stat': 'nonsense', 'memory.peak': 'max' });
    expect(readCgroupUsage([{ dir: bad, controller: 'memory', version: 2 }])).toEqual({});
  });
});

describe('SandboxUsageMeter', () => {
  it('adds CPU, keeps the largest peak, per workspace, until taken', () => {
    const m = new SandboxUsageMeter();
    m.record('/w/a', { cpuS: 1, peakMemoryBytes: 100 });
    m.record('/w/a', { cpuS: 0.5, peakMemoryBytes: 300 });
    m.record('/w/a', { peakMemoryBytes: 200 });
    m.record('/w/b', {});
    expect(m.take('/w/a')).toEqual({ cpuS: 1.5, peakMemoryBytes: 300 });
    expect(m.take('/w/a')).toBeUndefined();
    expect(m.take('/w/b')).toBeUndefined(); // nothing measured: absent
  });
});

describe.skipIf(!HAS_BWRAP)('a real sandboxed process', () => {
  let tmp: string;
  let sb: BwrapSandbox;
  let ws: string;
  beforeAll(async () => {
    tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'cg-run-')));
    const config = loadConfig({ DATA_DIR: tmp, SANDBOX: 'bwrap' });
    sb = createBwrapSandbox({ config, dataDir: tmp });
    await sb.ready();
    ws = await new WorkspaceManager(tmp, { identities: sb.identities }).ensure('s1');
  });
  afterAll(async () => {
    await sb?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('its peak memory (and CPU on cgroup v2) joins its workspace tally when it exits; without cgroups, none', async () => {
    const r = await runProcess(
      {
        command: 'node',
        args: [
          '-e',
          'const b = Buffer.alloc(96 * 1024 * 1024, 1); let s = 0; for (const x of b) s += x; console.log(s > 0)',
        ],
        cwd: ws,
        workspace: ws,
        env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
      },
      { sandbox: sb, timeoutMs: 30_000, outputLimit: 1000 },
    );
    expect(r.output.trim()).toBe('true');
    const u = sb.usage.take(ws);
    const cg = sb.info.cgroup;
    if (cg.memory) {
      expect(u?.peakMemoryBytes).toBeGreaterThan(96 * 1024 * 1024);
      expect(u?.peakMemoryBytes).toBeLessThan(2 * 1024 ** 3);
    }
    if (cg.version === 2) expect(u?.cpuS).toBeGreaterThan(0);
    else expect(u?.cpuS).toBeUndefined(); // v1: the cpuacct hierarchy is not joined — absent
    if (!cg.memory && cg.version !== 2) expect(u).toBeUndefined();
    expect(sb.usage.take(ws)).toBeUndefined();
  });
});
