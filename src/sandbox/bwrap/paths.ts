// Host-path policy for the bwrap sandbox: which host directories may be bound, and which never.
import { realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProcessSpec } from '../types.ts';

export function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

export function realOrResolve(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

export interface HostPathPolicy {
  /** DATA_DIR, resolved. */
  dataDir: string;
  /** Why binding `p` (read-write or read-only) would expose something it must not, or null. */
  unsafeBind(p: string): string | null;
  /** Why `p` (outside the workspace) is part of DATA_DIR: other sessions, the database, the audit log. */
  otherSession(p: string, ws: string): string | null;
  /**
   * Why the real path `real` may not be used as a local repository (clone source, fetch/push
   * remote) by a run whose workspace is `ws`, or null. Stricter than `unsafeBind`: besides
   * everything that contains a protected place, nothing INSIDE the server's checkout, DATA_DIR
   * (except `ws` itself), /root, /home, the server's cwd or its user's home.
   */
  unsafeRepository(real: string, ws: string): string | null;
  /** Why `spec.hostPaths` entry `real` must not be bound for this process, or null. */
  hostPathRefusal(real: string, spec: ProcessSpec): string | null;
}

/** The paths a sandbox must never see: DATA_DIR, the server's checkout, homes, system directories. */
export function createHostPathPolicy(rawDataDir: string): HostPathPolicy {
  const dataDir = realOrResolve(rawDataDir);
  const serverDir = realOrResolve(
    path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..'),
  );
  const cwd = realOrResolve(process.cwd());
  const home = realOrResolve(os.homedir());
  const protectedPaths = [
    dataDir,
    path.join(dataDir, 'workspaces'),
    path.join(dataDir, 'homes'),
    serverDir,
    cwd,
    home,
    '/root',
    '/home',
    '/run',
    '/var',
    '/etc',
    '/usr',
    '/proc',
    '/sys',
    '/dev',
    '/boot',
  ];
  const systemDirs = [
    '/proc',
    '/sys',
    '/dev',
    '/etc',
    '/usr',
    '/bin',
    '/sbin',
    '/lib',
    '/lib64',
    '/boot',
    '/run',
  ];
  // A repository anywhere below these is refused too (the server's own .git, another session's
  // workspace, a user's dotfiles repository), not only a directory that contains them.
  const noRepositoryBelow = [
    { dir: serverDir, what: "the server's checkout" },
    { dir: cwd, what: "the server's working directory" },
    { dir: home, what: "the server user's home" },
    { dir: '/root', what: '/root' },
    { dir: '/home', what: '/home' },
    // A server started in / (or a user whose home is /) must not refuse every path.
  ].filter((e) => e.dir !== '/');

  const unsafeBind = (p: string): string | null => {
    if (!path.isAbsolute(p)) return 'not an absolute path';
    if (p === '/') return 'is the root directory';
    for (const prot of protectedPaths) {
      if (isInside(p, prot)) return `contains ${prot}`;
    }
    for (const s of systemDirs) {
      if (isInside(s, p)) return `is inside ${s}`;
    }
    return null;
  };

  const otherSession = (p: string, ws: string): string | null =>
    isInside(dataDir, p) && !isInside(ws, p) ? `is inside DATA_DIR (${dataDir})` : null;

  const unsafeRepository = (real: string, ws: string): string | null => {
    const why = unsafeBind(real) ?? otherSession(real, realOrResolve(ws));
    if (why) return why;
    for (const { dir, what } of noRepositoryBelow) {
      if (isInside(dir, real)) return `is inside ${what} (${dir})`;
    }
    return null;
  };

  // Tools bind host paths for git only for local remotes: those get the repository rule. Anything
  // else (the Claude Code CLI's folder in node_modules, read-only) the plain bind rule.
  const hostPathRefusal = (real: string, spec: ProcessSpec): string | null =>
    path.basename(spec.command) === 'git'
      ? unsafeRepository(real, spec.workspace)
      : (unsafeBind(real) ?? otherSession(real, spec.workspace));

  return { dataDir, unsafeBind, otherSession, unsafeRepository, hostPathRefusal };
}
