// Tree operations of the `fs` tool — list, copy — on descriptors beneath the workspace root
// (src/sandbox/workspace/beneath.ts): nothing here resolves a path string the agent could have swapped.
import { constants as C, promises as fsp } from 'node:fs';
import {
  type BeneathRoot,
  type DirRef,
  MAX_WALK_DEPTH,
  openFileIn,
  TooDeepError,
  walkTree,
} from '../sandbox/workspace/beneath.ts';
import { ToolError } from './types.ts';

/** Directories `list` shows but does not descend into, and `search` skips. */
export const SKIP_DIRS = new Set(['.git']);

/** Lists `dir`: directories with `/`, symlinks as `name -> target` (never followed). */
export async function listTree(
  dir: DirRef,
  opts: { recursive: boolean; maxEntries: number },
): Promise<{ entries: string[]; truncated: boolean }> {
  const entries: string[] = [];
  const prefix = dir.rel;
  const relOf = (d: DirRef, name: string) => {
    const full = d.child(name);
    return prefix === '.' ? full : full.slice(prefix.length + 1);
  };
  const complete = await walkTree(dir, async (e) => {
    if (entries.length >= opts.maxEntries) return 'stop';
    const rel = relOf(e.dir, e.name);
    if (e.stat.isSymbolicLink()) {
      const target = await fsp.readlink(e.dir.at(e.name)).catch(() => '?');
      entries.push(`${rel} -> ${target}`);
      return false;
    }
    if (e.stat.isDirectory()) {
      entries.push(`${rel}/`);
      return opts.recursive && !SKIP_DIRS.has(e.name);
    }
    entries.push(rel);
    return false;
  });
  return { entries, truncated: !complete };
}

/** Copies an open regular file's content into a new file `name` in `dest` (which must not exist). */
export async function copyFileInto(
  root: BeneathRoot,
  src: { fh: import('node:fs/promises').FileHandle; mode: number },
  dest: DirRef,
  name: string,
): Promise<void> {
  const out = await openFileIn(dest, name, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 'regular', src.mode & 0o777);
  try {
    await root.adoptHandle(out.fh);
    const buf = Buffer.allocUnsafe(64 * 1024);
    let pos = 0;
    for (;;) {
      const { bytesRead } = await src.fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      await out.fh.write(buf, 0, bytesRead);
      pos += bytesRead;
    }
  } finally {
    await out.fh.close();
  }
}

/**
 * Copies the entry `name` of `srcDir` to `name2` in `destDir`. Symlinks are recreated verbatim
 * (never followed), regular files with more than one hard link are refused (they may alias files
 * outside), FIFOs, sockets and devices are skipped. Returns the number of entries copied.
 */
export async function copyEntry(
  root: BeneathRoot,
  srcDir: DirRef,
  name: string,
  destDir: DirRef,
  name2: string,
  maxEntries = 50_000,
): Promise<number> {
  let count = 0;
  const copy = async (from: DirRef, n: string, to: DirRef, n2: string, depth: number): Promise<void> => {
    if (++count > maxEntries) throw new ToolError('too_large', `Copy exceeds ${maxEntries} entries`);
    if (depth > MAX_WALK_DEPTH) throw new TooDeepError(from.rel);
    const st = await from.lstat(n);
    if (!st) return;
    if (st.isSymbolicLink()) {
      await fsp.symlink(await fsp.readlink(from.at(n)), to.at(n2));
      await root.adopt(to, n2);
    } else if (st.isDirectory()) {
      await fsp.mkdir(to.at(n2), { mode: st.mode & 0o777 });
      await root.adopt(to, n2);
      const sub = await from.openDir(n);
      try {
        const sub2 = await to.openDir(n2);
        try {
          for (const child of (await fsp.readdir(sub.self)).sort()) {
            await copy(sub, child, sub2, child, depth + 1);
          }
        } finally {
          await sub2.close();
        }
      } finally {
        await sub.close();
      }
    } else if (st.isFile()) {
      const src = await openFileIn(from, n, C.O_RDONLY);
      try {
        await copyFileInto(root, { fh: src.fh, mode: src.stat.mode }, to, n2);
      } finally {
        await src.fh.close();
      }
    } else {
      count--; // FIFOs, sockets, devices: not copied
    }
  };
  await copy(srcDir, name, destDir, name2, 0);
  return count;
}
