// Host-path policy for the bwrap sandbox: which host directories may be bound, and which never.
import { realpathSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.ts';
import type { ProcessSpec } from './types.ts';

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
  /** Local clone source (ALLOW_FILE_REPOS): read-only, when it is a safe directory. */
  localCloneSource(spec: ProcessSpec): string | null;
}

/** The paths a sandbox must never see: DATA_DIR, the server's checkout, homes, system directories. */
export function createHostPathPolicy(
  rawDataDir: string,
  config: Pick<Config, 'allowFileRepos'>,
): HostPathPolicy {
  const dataDir = realOrResolve(rawDataDir);
  const serverDir = realOrResolve(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'));
  const protectedPaths = [
    dataDir,
    path.join(dataDir, 'workspaces'),
    path.join(dataDir, 'homes'),
    serverDir,
    realOrResolve(process.cwd()),
    realOrResolve(os.homedir()),
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

  const localCloneSource = (spec: ProcessSpec): string | null => {
    if (!config.allowFileRepos || path.basename(spec.command) !== 'git' || !spec.args.includes('clone'))
      return null;
    const dd = spec.args.lastIndexOf('--');
    const url = dd === -1 ? undefined : spec.args[dd + 1];
    if (!url) return null;
    let p: string;
    if (url.startsWith('file://')) {
      try {
        p = fileURLToPath(url);
      } catch {
        return null;
      }
    } else if (path.isAbsolute(url)) p = url;
    else if (url.startsWith('./') || url.startsWith('../')) p = path.resolve(spec.cwd, url);
    else return null;
    const real = realOrResolve(p);
    try {
      if (!statSync(real).isDirectory()) return null;
    } catch {
      return null;
    }
    if (unsafeBind(real) !== null || otherSession(real, spec.workspace) !== null) return null;
    return real;
  };

  return { dataDir, unsafeBind, otherSession, localCloneSource };
}
