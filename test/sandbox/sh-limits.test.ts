// The wrapping sh's ulimit dialect is probed against /proc/self/limits; the prefix it builds must
// set exactly the configured limits (checked by reading them back from a real process).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/sandbox/bwrap/limits.ts';
import { probeShellLimits, shellLimitPrefix } from '../../src/sandbox/bwrap/sh-limits.ts';

describe('shell limits', () => {
  it('probes /bin/sh and sets every limit it is asked for, hard = soft', () => {
    const d = probeShellLimits();
    expect(d).not.toBeNull();
    if (!d) return;
    const limits = {
      ...DEFAULT_LIMITS,
      fileSizeBytes: 64 * 1024 ** 2,
      openFiles: 777,
      maxProcesses: 99,
      cpuSeconds: 33,
    };
    const prefix = shellLimitPrefix(d, limits, { addressSpaceBytes: 2 * 1024 ** 3, nproc: true });
    const r = spawnSync('/bin/sh', ['-c', `${prefix}exec cat /proc/self/limits`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const line = (name: string) => r.stdout.split('\n').find((l) => l.startsWith(name)) ?? '';
    expect(line('Max cpu time')).toMatch(/\s33\s+33\s/);
    expect(line('Max open files')).toMatch(/\s777\s+777\s/);
    expect(line('Max processes')).toMatch(/\s99\s+99\s/);
    expect(line('Max file size')).toMatch(new RegExp(`\\s${64 * 1024 ** 2}\\s+${64 * 1024 ** 2}\\s`));
    expect(line('Max address space')).toMatch(new RegExp(`\\s${2 * 1024 ** 3}\\s+${2 * 1024 ** 3}\\s`));
    expect(line('Max core file size')).toMatch(/\s0\s+0\s/);
  });

  it('refuses a shell whose ulimit cannot be verified', () => {
    expect(probeShellLimits('/bin/false')).toBeNull();
  });
});
