// The bwrap command line: namespaces, identity, the read-only system, /etc, /proc, tmpfs, node.
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { ROOT_MODE_CAPS } from './identity.ts';
import { isInside, realOrResolve } from './paths.ts';
import { SANDBOX_GID, SANDBOX_UID, SandboxUnavailableError } from './probe.ts';

/**
 * How the sandbox's user is made:
 * - `userns`: a non-root server; bwrap creates a user namespace in which the agent is uid 1000,
 *   mapped to the server's own unprivileged uid.
 * - `drop`: a root server; no user namespace (bwrap runs as root to set up the mounts with root's
 *   view of the file system) and a setpriv prefix switches to the session's own host uid before the
 *   command runs. See identity.ts.
 */
export type IdentityMode = 'userns' | 'drop';

export interface StaticArgsOptions {
  mode: IdentityMode;
  /** Whether this bwrap supports a flag. */
  has: (flag: string) => boolean;
  /** Size of the /tmp and /dev/shm tmpfs (0 = unlimited). */
  tmpBytes: number;
  /** The sanitized /etc copy (bwrap-etc.ts). */
  etcDir: string;
  unsafeBind: (p: string) => string | null;
  /** Extra read-only host paths (SANDBOX_RO_BIND). */
  roBind: string[];
}

/**
 * /proc entries a sandbox may read but never write (what Docker makes read-only), and entries it
 * does not see at all (masked by an empty read-only file). bwrap itself covers `sys`,
 * `sysrq-trigger`, `irq` and `bus` only when it finds them writable at set-up time, which depends
 * on who runs it; these binds make the rule unconditional.
 */
const PROC_READ_ONLY = ['sys', 'sysrq-trigger', 'irq', 'bus', 'fs'];
const PROC_MASKED = ['kcore', 'keys', 'timer_list', 'sched_debug', 'latency_stats', 'kallsyms', 'kmsg'];

/**
 * Emits `--dir` for every ancestor of `dest` before a bind to it. This bwrap creates missing
 * parents of a bind target with the SOURCE's mode, so binding a 0700 directory makes its parents
 * 0700 and root-owned — untraversable for a sandbox that runs as an unprivileged uid.
 * Ancestors inside a read-only mount (e.g. /usr) are left alone.
 */
export class MountPlan {
  readonly args: string[] = [];
  private readonly dirs = new Set<string>(['/']);
  /** Binds of host directories: nothing is created inside them (they may be read-only). */
  private readonly hostMounts: string[] = [];

  private parents(dest: string): void {
    const parts = dest.split('/').filter(Boolean);
    let cur = '';
    for (const p of parts.slice(0, -1)) {
      cur = `${cur}/${p}`;
      if (this.dirs.has(cur)) continue;
      if (this.hostMounts.some((m) => isInside(m, cur))) return;
      this.args.push('--dir', cur);
      this.dirs.add(cur);
    }
  }

  bind(kind: '--bind' | '--ro-bind' | '--dev-bind', src: string, dest: string): void {
    this.parents(dest);
    this.args.push(kind, src, dest);
    this.hostMounts.push(dest);
  }

  mount(kind: '--proc' | '--dev' | '--tmpfs', dest: string, size?: string[]): void {
    this.parents(dest);
    this.args.push(...(size ?? []), kind, dest);
    if (kind !== '--tmpfs') this.hostMounts.push(dest);
  }

  symlink(target: string, dest: string): void {
    this.parents(dest);
    this.args.push('--symlink', target, dest);
  }

  dir(dest: string): void {
    this.parents(dest);
    if (!this.dirs.has(dest)) this.args.push('--dir', dest);
    this.dirs.add(dest);
  }

  raw(...args: string[]): void {
    this.args.push(...args);
  }

  /** A copy to extend per process (static part shared by every wrap). */
  fork(): MountPlan {
    const p = new MountPlan();
    p.args.push(...this.args);
    for (const d of this.dirs) p.dirs.add(d);
    p.hostMounts.push(...this.hostMounts);
    return p;
  }
}

/** The arguments every sandboxed process starts with, and the real node binary they expose. */
export function buildStaticArgs(o: StaticArgsOptions): { plan: MountPlan; nodeReal: string } {
  const { has, etcDir, unsafeBind } = o;
  const plan = new MountPlan();
  if (o.mode === 'userns') {
    plan.raw('--unshare-user', '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_GID));
    if (has('--disable-userns')) plan.raw('--disable-userns');
    plan.raw('--cap-drop', 'ALL');
  } else {
    // Root server: every capability dropped except what the setpriv prefix needs (identity.ts).
    plan.raw('--cap-drop', 'ALL');
    for (const c of ROOT_MODE_CAPS) plan.raw('--cap-add', c);
  }
  plan.raw(
    '--unshare-ipc',
    '--unshare-pid',
    '--unshare-uts',
    '--unshare-net',
    '--unshare-cgroup-try',
    '--die-with-parent',
    '--new-session',
    '--hostname',
    'sandbox',
  );
  plan.bind('--ro-bind', '/usr', '/usr');
  for (const d of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const p = `/${d}`;
    try {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) plan.symlink(readlinkSync(p), p);
      else if (st.isDirectory()) plan.bind('--ro-bind', p, p);
    } catch {
      // absent on this system
    }
  }
  // /etc: one read-only bind of a sanitized copy (one mount instead of dozens keeps start-up fast).
  plan.bind('--ro-bind', etcDir, '/etc');
  plan.mount('--proc', '/proc');
  for (const p of PROC_READ_ONLY) plan.raw('--ro-bind-try', `/proc/${p}`, `/proc/${p}`);
  for (const p of PROC_MASKED) {
    if (existsSync(`/proc/${p}`)) plan.raw('--ro-bind-try', '/dev/null', `/proc/${p}`);
  }
  plan.mount('--dev', '/dev');
  // Sticky and world-writable like a real /tmp: on a root server the tmpfs belongs to root, and
  // the agent runs as another uid.
  const sized = (bytes: number) => [
    ...(has('--size') && bytes > 0 ? ['--size', String(bytes)] : []),
    ...(has('--perms') ? ['--perms', '1777'] : []),
  ];
  plan.mount('--tmpfs', '/tmp', sized(o.tmpBytes));
  plan.mount('--tmpfs', '/dev/shm', sized(o.tmpBytes));
  plan.dir('/var');
  plan.symlink('/tmp', '/var/tmp');

  // node: its real directory (and npm's, when installed next to it), never a parent like /root.
  const nodeReal = realOrResolve(process.execPath);
  const nodeBin = path.dirname(nodeReal);
  const underUsr = isInside('/usr', nodeBin) || isInside('/bin', nodeBin);
  if (!underUsr) {
    if (unsafeBind(nodeBin) === null) plan.bind('--ro-bind', nodeBin, nodeBin);
    else plan.bind('--ro-bind', nodeReal, nodeReal);
    const npmDir = path.join(path.dirname(nodeBin), 'lib', 'node_modules');
    if (existsSync(npmDir) && unsafeBind(npmDir) === null) plan.bind('--ro-bind', npmDir, npmDir);
  }
  const execDir = path.dirname(process.execPath);
  if (execDir !== nodeBin && !isInside('/usr', execDir) && !isInside('/bin', execDir)) {
    plan.bind('--ro-bind', nodeReal, path.join(execDir, path.basename(process.execPath)));
  }

  // Operator-provided read-only paths (toolchains in /opt, …).
  for (const raw of o.roBind) {
    const p = realOrResolve(raw);
    const why = unsafeBind(p);
    if (why) throw new SandboxUnavailableError(`SANDBOX_RO_BIND: refusing "${raw}": it ${why}`);
    if (!existsSync(p)) throw new SandboxUnavailableError(`SANDBOX_RO_BIND: "${raw}" does not exist`);
    plan.bind('--ro-bind', p, p);
  }
  return { plan, nodeReal };
}
