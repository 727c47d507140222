// Confines every path a tool touches to the run's workspace. Resolution follows symlinks one
// component at a time (kernel semantics, including `..` after a symlink), so a link anywhere in the
// path — final, intermediate, chained or dangling — is judged by where it really leads.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ToolError } from '../../errors.ts';

export interface ResolveOptions {
  /** Accept a target that does not exist yet (write, mkdir, move destination). */
  allowMissing?: boolean;
  /** Resolve a symlink in the final component (default true). False for delete/move/lstat, which act on the link itself. */
  followFinal?: boolean;
}

const MAX_SYMLINKS = 40;
const MAX_PATH = 4096;

/** True when `target` is `root` or below it (both absolute, normalised). */
export function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

function outside(userPath: string): ToolError {
  return new ToolError('path_outside_workspace', `Path "${userPath}" resolves outside the workspace`);
}

async function lstatOrNull(p: string) {
  try {
    return await fsp.lstat(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new ToolError('path_invalid', `Cannot access "${p}": ${code ?? String(err)}`);
  }
}

/**
 * Walks `parts` starting at real directory `start`, following symlinks. Once a component is
 * missing, the rest is applied lexically (nothing below a missing directory can be a link).
 */
async function walk(start: string, parts: string[]): Promise<{ real: string; missing: boolean }> {
  const queue = [...parts];
  let cur = start;
  let links = 0;
  let missing = false;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      cur = path.dirname(cur);
      continue;
    }
    const next = path.join(cur, part);
    if (missing) {
      cur = next;
      continue;
    }
    const st = await lstatOrNull(next);
    if (!st) {
      missing = true;
      cur = next;
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw new ToolError('path_invalid', 'Too many levels of symbolic links');
      const target = await fsp.readlink(next);
      if (path.isAbsolute(target)) cur = '/';
      queue.unshift(...target.split('/'));
      continue;
    }
    cur = next;
  }
  return { real: cur, missing };
}

/**
 * Resolves `userPath` (relative to the workspace, or absolute inside it) to an absolute real path
 * inside the workspace, or throws ToolError('path_outside_workspace' | 'not_found' | 'path_invalid').
 */
export async function resolveInWorkspace(
  workspace: string,
  userPath: string,
  opts: ResolveOptions = {},
): Promise<string> {
  if (typeof userPath !== 'string') throw new ToolError('path_invalid', 'Path must be a string');
  if (userPath.includes('\0')) throw new ToolError('path_invalid', 'Path contains a NUL byte');
  if (userPath.length > MAX_PATH) throw new ToolError('path_invalid', 'Path is too long');
  const root = await fsp.realpath(workspace);
  const p = userPath === '' ? '.' : userPath;
  const start = path.isAbsolute(p) ? '/' : root;
  const parts = p.split('/');
  const followFinal = opts.followFinal ?? true;

  // The final component is kept verbatim when the caller acts on a link itself.
  let last: string | undefined;
  if (!followFinal) {
    while (parts.length > 0 && (parts.at(-1) === '' || parts.at(-1) === '.')) parts.pop();
    const tail = parts.at(-1);
    if (tail !== undefined && tail !== '..') last = parts.pop();
  }

  let { real, missing } = await walk(start, parts);
  if (last !== undefined) {
    real = path.join(real, last);
    if (!missing) missing = (await lstatOrNull(real)) === null;
  }
  if (!isInside(root, real)) throw outside(userPath);
  if (missing && !opts.allowMissing) {
    throw new ToolError('not_found', `No such file or directory: ${userPath}`);
  }
  return real;
}

/** Refuses regular files with more than one hard link: a link to a file outside the workspace would pass every path check. */
export async function assertNotHardLinked(p: string): Promise<void> {
  const st = await lstatOrNull(p);
  if (st?.isFile() && st.nlink > 1) {
    throw new ToolError(
      'hard_link_refused',
      `Refusing to access "${p}": it has ${st.nlink} hard links and may alias a file outside the workspace`,
    );
  }
}
