// A process tree's resource use, read from its cgroup after it exited (before the sweep removes
// the empty cgroup): cgroup v2 `cpu.stat` (usage_usec, present whatever the controllers) and
// `memory.peak` (kernel 5.19+); cgroup v1 `memory.max_usage_in_bytes` (no CPU: the cpuacct
// hierarchy is not joined). A file that is missing or unreadable leaves its figure absent.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { SandboxUsage } from '../usage.ts';
import type { CgroupDir } from './limits.ts';

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function bytes(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.trim());
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

export function readCgroupUsage(dirs: readonly CgroupDir[]): SandboxUsage {
  const out: SandboxUsage = {};
  for (const d of dirs) {
    if (d.version === 2) {
      if (out.cpuS === undefined) {
        const m = /^usage_usec (\d+)$/m.exec(read(path.join(d.dir, 'cpu.stat')) ?? '');
        if (m) out.cpuS = Number(m[1]) / 1e6;
      }
      if (d.controller === 'memory') {
        const peak = bytes(read(path.join(d.dir, 'memory.peak')));
        if (peak !== undefined) out.peakMemoryBytes = peak;
      }
    } else if (d.controller === 'memory') {
      const peak = bytes(read(path.join(d.dir, 'memory.max_usage_in_bytes')));
      if (peak !== undefined) out.peakMemoryBytes = peak;
    }
  }
  return out;
}
