// Resource limits for sandboxed processes: rlimits (applied by `prlimit` INSIDE the sandbox, after
// the user namespace exists) and, where the cgroup filesystem is writable, a per-process-tree
// cgroup for the process count (pids.max) and memory. Configured by environment variables (read
// and validated in src/config.ts, `Config.sandboxLimits`):
//
//   SANDBOX_CPU_SECONDS          RLIMIT_CPU per process (s)                           default 900
//   SANDBOX_MEMORY_BYTES         cgroup memory limit for the whole tree              default 4 GiB
//   SANDBOX_ADDRESS_SPACE_BYTES  RLIMIT_AS per process; 0 = off                      default: off when
//                                the memory cgroup works, else 2 × SANDBOX_MEMORY_BYTES
//   SANDBOX_MAX_PROCESSES        cgroup pids.max for the tree (RLIMIT_NPROC fallback) default 512
//   SANDBOX_MAX_FILE_BYTES       RLIMIT_FSIZE: largest file a process may write       default 1 GiB
//   SANDBOX_MAX_OPEN_FILES       RLIMIT_NOFILE                                        default 4096
//   SANDBOX_TMP_BYTES            size of the private /tmp and /dev/shm tmpfs          default 512 MiB
//   SANDBOX_CGROUP               `auto` (use cgroups when writable) or `off`          default auto
//
// The wall-clock limit is the caller's timeout (bash `timeout`, BASH_TIMEOUT_MS): the process
// runner kills bwrap, and the PID namespace takes every descendant with it.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SandboxLimits } from '../../config.ts';

/** The limits (parsed and validated in src/config.ts: `Config.sandboxLimits`). */
export type Limits = SandboxLimits;
export { DEFAULT_SANDBOX_LIMITS as DEFAULT_LIMITS } from '../../config.ts';

const GiB = 1024 ** 3;

/** RLIMIT_AS actually applied: explicit value, else off with a memory cgroup, else 2 × memory. */
export function effectiveAddressSpace(limits: Limits, memoryCgroup: boolean): number {
  if (limits.addressSpaceBytes !== undefined) return limits.addressSpaceBytes;
  if (memoryCgroup || limits.memoryBytes === 0) return 0;
  return Math.max(2 * limits.memoryBytes, 2 * GiB);
}

/**
 * `prlimit` options (soft = hard, so the sandboxed process cannot raise them). RLIMIT_NPROC is
 * only meaningful when no pids cgroup is used and the server is not root (the kernel never
 * applies it to uid 0).
 */
export function prlimitArgs(limits: Limits, o: { addressSpaceBytes: number; nproc: boolean }): string[] {
  const args: string[] = [];
  if (limits.cpuSeconds > 0) args.push(`--cpu=${limits.cpuSeconds}`);
  if (o.addressSpaceBytes > 0) args.push(`--as=${o.addressSpaceBytes}`);
  if (limits.fileSizeBytes > 0) args.push(`--fsize=${limits.fileSizeBytes}`);
  if (limits.openFiles > 0) args.push(`--nofile=${limits.openFiles}`);
  if (o.nproc && limits.maxProcesses > 0) args.push(`--nproc=${limits.maxProcesses}`);
  args.push('--core=0');
  return args;
}

/** The same limits as a `sh -c 'ulimit …'` prefix, for systems without prlimit. */
export function ulimitScript(limits: Limits, o: { addressSpaceBytes: number; nproc: boolean }): string {
  const parts: string[] = [];
  if (limits.cpuSeconds > 0) parts.push(`ulimit -t ${limits.cpuSeconds}`);
  if (o.addressSpaceBytes > 0) parts.push(`ulimit -v ${Math.floor(o.addressSpaceBytes / 1024)}`);
  if (limits.fileSizeBytes > 0)
    parts.push(`ulimit -f ${Math.max(1, Math.floor(limits.fileSizeBytes / 512))}`);
  if (limits.openFiles > 0) parts.push(`ulimit -n ${limits.openFiles}`);
  if (o.nproc && limits.maxProcesses > 0) parts.push(`ulimit -u ${limits.maxProcesses}`);
  parts.push('ulimit -c 0');
  return `${parts.join(' && ')} && exec "$@"`;
}

// ---------------------------------------------------------------------------------------------
// cgroups
// ---------------------------------------------------------------------------------------------

interface Hierarchy {
  controller: 'pids' | 'memory';
  /** Our parent directory for sandbox cgroups. */
  parent: string;
  version: 1 | 2;
}

export interface CgroupSlot {
  /** `cgroup.procs` files the wrapper writes its pid to before exec'ing bwrap. */
  procsFiles: string[];
  /** The slot's directories with what they account (read for usage once the process has exited). */
  accounting: CgroupDir[];
}

export interface CgroupDir {
  dir: string;
  controller: 'pids' | 'memory';
  version: 1 | 2;
}

export interface CgroupInfo {
  pids: boolean;
  memory: boolean;
  version: 1 | 2 | null;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

function ownCgroupPaths(): Map<string, string> {
  const out = new Map<string, string>();
  let text = '';
  try {
    text = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const controllers = m[2] ?? '';
    const p = m[3] ?? '/';
    if (controllers === '') out.set('', p);
    for (const c of controllers.split(',')) if (c) out.set(c, p);
  }
  return out;
}

function tryMkParent(dir: string, probeFile: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    return existsSync(path.join(dir, probeFile));
  } catch {
    return false;
  }
}

/**
 * Per-process-tree cgroups under our own cgroup (v1 `pids`/`memory` hierarchies, or v2 when the
 * controllers are delegated to us). Each wrap() gets a fresh child; empty children are removed
 * by a periodic sweep (a cgroup can only be removed once its processes are gone).
 */
export class CgroupManager {
  private readonly hierarchies: Hierarchy[] = [];
  /** Handed-out cgroup directories and when; removed by the sweep once empty. */
  private readonly created = new Map<string, number>();
  /** Pre-made slots, so that making directories is off the critical path of a spawn. */
  private readonly pool: Array<{ dirs: string[]; procsFiles: string[]; accounting: CgroupDir[] }> = [];
  private refillScheduled = false;
  private closed = false;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;

  private readonly limits: Limits;

  constructor(limits: Limits, name = `${PREFIX}${process.pid}-${++instances}`) {
    this.limits = limits;
    const own = ownCgroupPaths();
    const v2 = own.get('');
    if (existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers')) && v2 !== undefined) {
      // Unified hierarchy mounted at the root: usable only when the controllers are delegated.
      removeStale(path.join(CGROUP_ROOT, v2));
      const dir = path.join(CGROUP_ROOT, v2, name);
      if (tryMkParent(dir, 'cgroup.procs')) {
        try {
          writeFileSync(path.join(dir, 'cgroup.subtree_control'), '+pids +memory');
        } catch {
          // Not delegated: children get no controllers.
        }
        for (const c of ['pids', 'memory'] as const) {
          const ctl = readFileSafe(path.join(dir, 'cgroup.subtree_control'));
          if (ctl.split(/\s+/).includes(c)) this.hierarchies.push({ controller: c, parent: dir, version: 2 });
        }
      }
      return;
    }
    for (const c of ['pids', 'memory'] as const) {
      const own1 = own.get(c);
      if (own1 === undefined) continue;
      removeStale(path.join(CGROUP_ROOT, c, own1));
      const dir = path.join(CGROUP_ROOT, c, own1, name);
      const probe = c === 'pids' ? 'pids.max' : 'memory.limit_in_bytes';
      if (tryMkParent(dir, probe)) this.hierarchies.push({ controller: c, parent: dir, version: 1 });
    }
  }

  get info(): CgroupInfo {
    return {
      pids: this.hierarchies.some((h) => h.controller === 'pids'),
      memory: this.hierarchies.some((h) => h.controller === 'memory'),
      version: this.hierarchies[0]?.version ?? null,
    };
  }

  private make(): { dirs: string[]; procsFiles: string[]; accounting: CgroupDir[] } | null {
    const limits = this.limits;
    const name = `p${++this.seq}-${Date.now().toString(36)}`;
    const dirs: string[] = [];
    const procsFiles: string[] = [];
    const accounting: CgroupDir[] = [];
    for (const h of this.hierarchies) {
      const dir = path.join(h.parent, name);
      accounting.push({ dir, controller: h.controller, version: h.version });
      try {
        if (!dirs.includes(dir)) {
          mkdirSync(dir);
          dirs.push(dir);
          procsFiles.push(path.join(dir, 'cgroup.procs'));
        }
        if (h.controller === 'pids' && limits.maxProcesses > 0) {
          writeFileSync(path.join(dir, 'pids.max'), String(limits.maxProcesses));
        }
        if (h.controller === 'memory' && limits.memoryBytes > 0) {
          writeFileSync(
            path.join(dir, h.version === 2 ? 'memory.max' : 'memory.limit_in_bytes'),
            String(limits.memoryBytes),
          );
          if (h.version === 2) {
            try {
              writeFileSync(path.join(dir, 'memory.swap.max'), '0');
            } catch {
              // No swap accounting.
            }
          }
        }
      } catch {
        // A half-made slot is worse than none: the caller falls back to rlimits.
        for (const d of dirs) {
          try {
            rmdirSync(d);
          } catch {
            // ignore
          }
        }
        return null;
      }
    }
    return { dirs, procsFiles, accounting };
  }

  /** The cgroup(s) for one process tree; null when none is usable. */
  create(): CgroupSlot | null {
    if (this.hierarchies.length === 0 || this.closed) return null;
    const slot = this.pool.pop() ?? this.make();
    if (!slot) return null;
    const now = Date.now();
    for (const d of slot.dirs) this.created.set(d, now);
    this.scheduleRefill();
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(30_000), 10_000);
      this.timer.unref();
    }
    return { procsFiles: slot.procsFiles, accounting: slot.accounting };
  }

  private scheduleRefill(): void {
    if (this.refillScheduled) return;
    this.refillScheduled = true;
    setImmediate(() => {
      this.refillScheduled = false;
      while (!this.closed && this.pool.length < POOL_SIZE) {
        const slot = this.make();
        if (!slot) break;
        this.pool.push(slot);
      }
    });
  }

  /** Removes empty cgroups created more than `minAgeMs` ago (younger ones may not be joined yet). */
  sweep(minAgeMs: number): void {
    const now = Date.now();
    for (const [dir, at] of this.created) {
      if (now - at < minAgeMs) continue;
      try {
        rmdirSync(dir);
        this.created.delete(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.created.delete(dir);
      }
    }
  }

  /** Best-effort removal of everything (processes still inside keep their cgroup). */
  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const slot of this.pool.splice(0)) for (const d of slot.dirs) this.created.set(d, 0);
    this.sweep(0);
    for (const h of this.hierarchies) {
      try {
        for (const e of readdirSync(h.parent, { withFileTypes: true })) {
          if (e.isDirectory()) {
            try {
              rmdirSync(path.join(h.parent, e.name));
            } catch {
              // Busy.
            }
          }
        }
        rmdirSync(h.parent);
      } catch {
        // Busy or gone.
      }
    }
  }
}

const PREFIX = 'duyetbot-sandbox-';
const POOL_SIZE = 4;
let instances = 0;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the (empty) cgroups left by server processes that no longer exist. */
function removeStale(base: string): void {
  let entries: string[];
  try {
    entries = readdirSync(base);
  } catch {
    return;
  }
  for (const e of entries) {
    const m = new RegExp(`^${PREFIX}(\\d+)(-\\d+)?$`).exec(e);
    if (!m || pidAlive(Number(m[1]))) continue;
    const dir = path.join(base, e);
    try {
      for (const child of readdirSync(dir, { withFileTypes: true })) {
        if (child.isDirectory()) {
          try {
            rmdirSync(path.join(dir, child.name));
          } catch {
            // still has processes
          }
        }
      }
      rmdirSync(dir);
    } catch {
      // busy
    }
  }
}

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/** The `sh -c` program that joins the cgroups (its pid is inherited by everything it execs). */
export function cgroupJoinScript(count: number): string {
  const parts: string[] = [];
  for (let i = 1; i <= count; i++) parts.push(`echo $$ > "$${i}"`);
  return `${parts.join(' && ')} && shift ${count} && exec "$@" || { echo "sandbox: cannot join cgroup" >&2; exit 125; }`;
}
