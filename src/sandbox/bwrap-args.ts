// The static part of the bwrap command line: namespaces, the read-only system, /etc, tmpfs, node.
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { isInside, realOrResolve } from './bwrap-paths.ts';
import { SANDBOX_GID, SANDBOX_UID, SandboxUnavailableError } from './bwrap-probe.ts';

export interface StaticArgsOptions {
  /** Run in a user namespace (as SANDBOX_UID/SANDBOX_GID). */
  userns: boolean;
  /** Whether this bwrap supports a flag. */
  has: (flag: string) => boolean;
  /** Size of the /tmp and /dev/shm tmpfs (0 = unlimited). */
  tmpBytes: number;
  /** The sanitized /etc copy (bwrap-etc.ts). */
  etcDir: string;
  unsafeBind: (p: string) => string | null;
  /** Where SANDBOX_RO_BIND is read from. */
  env: Record<string, string | undefined>;
}

/** The arguments every sandboxed process starts with, and the real node binary they expose. */
export function buildStaticArgs(o: StaticArgsOptions): { staticArgs: string[]; nodeReal: string } {
  const { userns, has, etcDir, unsafeBind, env } = o;
  const staticArgs: string[] = [];
  if (userns) {
    staticArgs.push('--unshare-user', '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_GID));
    if (has('--disable-userns')) staticArgs.push('--disable-userns');
  }
  staticArgs.push(
    '--unshare-ipc',
    '--unshare-pid',
    '--unshare-uts',
    '--unshare-net',
    '--unshare-cgroup-try',
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--hostname',
    'sandbox',
    '--ro-bind',
    '/usr',
    '/usr',
  );
  for (const d of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const p = `/${d}`;
    try {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) staticArgs.push('--symlink', readlinkSync(p), p);
      else if (st.isDirectory()) staticArgs.push('--ro-bind', p, p);
    } catch {
      // absent on this system
    }
  }
  // /etc: one read-only bind of a sanitized copy (one mount instead of dozens keeps start-up fast).
  staticArgs.push('--ro-bind', etcDir, '/etc');
  staticArgs.push('--proc', '/proc', '--dev', '/dev');
  const sized = (bytes: number) => (has('--size') && bytes > 0 ? ['--size', String(bytes)] : []);
  staticArgs.push(...sized(o.tmpBytes), '--tmpfs', '/tmp');
  staticArgs.push(...sized(o.tmpBytes), '--tmpfs', '/dev/shm');
  staticArgs.push('--dir', '/var', '--symlink', '/tmp', '/var/tmp');

  // node: its real directory (and npm's, when installed next to it), never a parent like /root.
  const nodeReal = realOrResolve(process.execPath);
  const nodeBin = path.dirname(nodeReal);
  const nodeArgs: string[] = [];
  const underUsr = isInside('/usr', nodeBin) || isInside('/bin', nodeBin);
  if (!underUsr) {
    if (unsafeBind(nodeBin) === null) nodeArgs.push('--ro-bind', nodeBin, nodeBin);
    else nodeArgs.push('--ro-bind', nodeReal, nodeReal);
    const npmDir = path.join(path.dirname(nodeBin), 'lib', 'node_modules');
    if (existsSync(npmDir) && unsafeBind(npmDir) === null) nodeArgs.push('--ro-bind', npmDir, npmDir);
  }
  const execDir = path.dirname(process.execPath);
  if (execDir !== nodeBin && !isInside('/usr', execDir) && !isInside('/bin', execDir)) {
    nodeArgs.push('--ro-bind', nodeReal, path.join(execDir, path.basename(process.execPath)));
  }
  staticArgs.push(...nodeArgs);

  // Operator-provided read-only paths (toolchains in /opt, …).
  for (const raw of (env.SANDBOX_RO_BIND ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const p = realOrResolve(raw);
    const why = unsafeBind(p);
    if (why) throw new SandboxUnavailableError(`SANDBOX_RO_BIND: refusing "${raw}": it ${why}`);
    if (!existsSync(p)) throw new SandboxUnavailableError(`SANDBOX_RO_BIND: "${raw}" does not exist`);
    staticArgs.push('--ro-bind', p, p);
  }
  return { staticArgs, nodeReal };
}
