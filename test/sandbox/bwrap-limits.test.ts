import {
  promises as fsp,
  linkSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import {
  cgroupJoinScript,
  DEFAULT_LIMITS,
  effectiveAddressSpace,
  prlimitArgs,
  ulimitScript,
} from '../../src/sandbox/bwrap/limits.ts';
import { diskUsage, watchDiskQuota } from '../../src/sandbox/workspace/disk-quota.ts';
import { sleep } from '../helpers/sleep.ts';

// The SANDBOX_* variables are read by src/config.ts (Config.sandboxLimits) like every setting.
const limitsFromEnv = (env: Record<string, string>) => loadConfig(env).sandboxLimits;

describe('limits from env', () => {
  it('has defaults and parses every variable', () => {
    expect(limitsFromEnv({})).toEqual(DEFAULT_LIMITS);
    expect(limitsFromEnv({ SANDBOX_CPU_SECONDS: ' ', SANDBOX_CGROUP: '' })).toEqual(DEFAULT_LIMITS);
    const l = limitsFromEnv({
      SANDBOX_CPU_SECONDS: '60',
      SANDBOX_MEMORY_BYTES: '1073741824',
      SANDBOX_ADDRESS_SPACE_BYTES: '0',
      SANDBOX_MAX_PROCESSES: '100',
      SANDBOX_MAX_FILE_BYTES: '1048576',
      SANDBOX_MAX_OPEN_FILES: '256',
      SANDBOX_TMP_BYTES: '67108864',
      SANDBOX_CGROUP: 'off',
    });
    expect(l).toEqual({
      cpuSeconds: 60,
      memoryBytes: 1073741824,
      addressSpaceBytes: 0,
      maxProcesses: 100,
      fileSizeBytes: 1048576,
      openFiles: 256,
      tmpBytes: 67108864,
      cgroup: 'off',
    });
    // A bad value stops the start with a ConfigError naming the variable (as any other setting).
    expect(() => limitsFromEnv({ SANDBOX_MAX_PROCESSES: '2' })).toThrow(ConfigError);
    expect(() => limitsFromEnv({ SANDBOX_MAX_PROCESSES: '2' })).toThrow(
      'SANDBOX_MAX_PROCESSES must be a number ≥ 8, got "2"',
    );
    expect(() => limitsFromEnv({ SANDBOX_CPU_SECONDS: 'lots' })).toThrow(/SANDBOX_CPU_SECONDS/);
    expect(() => limitsFromEnv({ SANDBOX_CGROUP: 'maybe' })).toThrow(
      new ConfigError('SANDBOX_CGROUP must be "auto" or "off", got "maybe"'),
    );
  });

  it('uses RLIMIT_AS only as the fallback for a missing memory cgroup unless set', () => {
    expect(effectiveAddressSpace(DEFAULT_LIMITS, true)).toBe(0);
    expect(effectiveAddressSpace(DEFAULT_LIMITS, false)).toBe(2 * DEFAULT_LIMITS.memoryBytes);
    expect(effectiveAddressSpace({ ...DEFAULT_LIMITS, addressSpaceBytes: 123 }, true)).toBe(123);
  });

  it('renders prlimit and ulimit forms', () => {
    const l = { ...DEFAULT_LIMITS, cpuSeconds: 10, fileSizeBytes: 1024, openFiles: 100, maxProcesses: 50 };
    expect(prlimitArgs(l, { addressSpaceBytes: 2048, nproc: true })).toEqual([
      '--cpu=10',
      '--as=2048',
      '--fsize=1024',
      '--nofile=100',
      '--nproc=50',
      '--core=0',
    ]);
    expect(prlimitArgs(l, { addressSpaceBytes: 0, nproc: false })).not.toContain('--nproc=50');
    expect(ulimitScript(l, { addressSpaceBytes: 2048, nproc: true })).toBe(
      'ulimit -t 10 && ulimit -v 2 && ulimit -f 2 && ulimit -n 100 && ulimit -u 50 && ulimit -c 0 && exec "$@"',
    );
    expect(cgroupJoinScript(2)).toMatch(/^echo \$\$ > "\$1" && echo \$\$ > "\$2" && shift 2 && exec "\$@"/);
  });
});

describe('disk quota', () => {
  let dir: string;
  beforeEach(() => {
    dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'quota-')));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('counts allocated bytes, hard links once, and never follows symlinks', async () => {
    writeFileSync(path.join(dir, 'a'), Buffer.alloc(100_000, 1));
    const base = (await diskUsage(dir)).bytes;
    expect(base).toBeGreaterThanOrEqual(100_000);
    linkSync(path.join(dir, 'a'), path.join(dir, 'hard'));
    symlinkSync('/usr', path.join(dir, 'usr-link'));
    const after = (await diskUsage(dir)).bytes;
    expect(after - base).toBeLessThan(4096);
  });

  it('reports a tree nested deeper than it walks instead of walking it', async () => {
    let p = path.join(dir, 'deep');
    for (let i = 0; i < 300; i++) p = path.join(p, 'd');
    await fsp.mkdir(p, { recursive: true });
    expect((await diskUsage(dir)).tooDeep).toBe(true);
    const hits: string[] = [];
    const stop = watchDiskQuota(dir, 10 ** 12, (e) => hits.push(e.reason), { intervalMs: 50 });
    for (let i = 0; i < 40 && hits.length === 0; i++) await sleep(50);
    stop();
    expect(hits).toEqual(['depth']);
    await fsp.rm(path.join(dir, 'deep'), { recursive: true });
  });

  it('fires once when the workspace grows past the quota, and stops cleanly', async () => {
    const hits: number[] = [];
    const measured: number[] = [];
    const stop = watchDiskQuota(dir, 1_000_000, (e) => hits.push(e.usedBytes), {
      intervalMs: 50,
      onMeasure: (b) => measured.push(b),
    });
    await sleep(120);
    expect(hits).toEqual([]);
    await fsp.writeFile(path.join(dir, 'big'), Buffer.alloc(2_000_000, 1));
    for (let i = 0; i < 40 && hits.length === 0; i++) await sleep(50);
    expect(hits).toHaveLength(1);
    expect(hits[0]).toBeGreaterThan(1_000_000);
    await sleep(150);
    expect(hits).toHaveLength(1);
    stop();
    const n = measured.length;
    await sleep(150);
    expect(measured.length).toBe(n);
  });

  it('is a no-op with a zero quota', () => {
    const stop = watchDiskQuota(dir, 0, () => {
      throw new Error('never');
    });
    stop();
  });
});
