// File-system primitives for the `fs` tool that must not be fooled by links: opening with
// O_NOFOLLOW and re-checking the opened file, listing and copying trees without following
// symlinks. Paths given here are already real paths from the path guard.
import { constants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { isInside } from '../sandbox/path-guard.ts';
import { ToolError } from './types.ts';

/** Directories `list` shows but does not descend into, and `search` skips. */
export const SKIP_DIRS = new Set(['.git']);

/**
 * Opens `real` (never through a final symlink) and checks what was actually opened: a regular
 * file, not hard-linked, and — where /proc is available — still inside the workspace, which
 * closes the window between the path check and the open.
 */
export async function openVerified(
  workspace: string,
  real: string,
  flags: number,
  mode = 0o644,
): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await fsp.open(real, flags | constants.O_NOFOLLOW, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new ToolError('path_invalid', `"${real}" is a symbolic link`);
    if (code === 'EISDIR') throw new ToolError('invalid_input', `"${real}" is a directory`);
    if (code === 'ENOENT') throw new ToolError('not_found', `No such file: ${real}`);
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ToolError('invalid_input', `"${real}" is not a regular file`);
    if (st.nlink > 1) {
      throw new ToolError('hard_link_refused', `Refusing to access "${real}": it has ${st.nlink} hard links`);
    }
    const actual = await fsp.readlink(`/proc/self/fd/${fh.fd}`).catch(() => undefined);
    if (actual !== undefined && !isInside(workspace, actual)) {
      throw new ToolError('path_outside_workspace', `"${real}" resolves outside the workspace`);
    }
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

export async function lstatOrNull(p: string) {
  try {
    return await fsp.lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Lists `dir`: directories with `/`, symlinks as `name -> target` (never followed). */
export async function listTree(
  dir: string,
  opts: { recursive: boolean; maxEntries: number },
): Promise<{ entries: string[]; truncated: boolean }> {
  const entries: string[] = [];
  const walk = async (abs: string, rel: string): Promise<boolean> => {
    const items = await fsp.readdir(abs, { withFileTypes: true });
    items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const item of items) {
      if (entries.length >= opts.maxEntries) return false;
      const relName = rel ? `${rel}/${item.name}` : item.name;
      const full = path.join(abs, item.name);
      if (item.isSymbolicLink()) {
        const target = await fsp.readlink(full).catch(() => '?');
        entries.push(`${relName} -> ${target}`);
      } else if (item.isDirectory()) {
        entries.push(`${relName}/`);
        if (opts.recursive && !SKIP_DIRS.has(item.name) && !(await walk(full, relName))) return false;
      } else {
        entries.push(relName);
      }
    }
    return true;
  };
  const complete = await walk(dir, '');
  return { entries, truncated: !complete };
}

/**
 * Copies a file or tree. Symlinks are recreated verbatim (not followed), hard-linked files are
 * refused (they may alias files outside), sockets/FIFOs/devices are skipped.
 */
export async function copyTree(src: string, dest: string, maxEntries = 50_000): Promise<number> {
  let count = 0;
  const copy = async (from: string, to: string): Promise<void> => {
    if (++count > maxEntries) throw new ToolError('too_large', `Copy exceeds ${maxEntries} entries`);
    const st = await fsp.lstat(from);
    if (st.isSymbolicLink()) {
      await fsp.symlink(await fsp.readlink(from), to);
    } else if (st.isDirectory()) {
      await fsp.mkdir(to, { mode: st.mode & 0o777 });
      for (const name of await fsp.readdir(from)) await copy(path.join(from, name), path.join(to, name));
    } else if (st.isFile()) {
      if (st.nlink > 1)
        throw new ToolError('hard_link_refused', `Refusing to copy hard-linked file "${from}"`);
      await fsp.copyFile(from, to, constants.COPYFILE_EXCL);
    }
  };
  await copy(src, dest);
  return count;
}
