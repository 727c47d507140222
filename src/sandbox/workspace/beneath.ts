// File access under a directory the agent controls (a workspace, a session home), for code that
// runs with the SERVER's authority. Every path is walked one component at a time from an open
// directory file descriptor, through `/proc/self/fd/<dirfd>/<name>`: the kernel resolves exactly one
// name relative to the directory the descriptor holds, and with O_NOFOLLOW a symlink in that name
// is refused instead of followed. This is openat(2) with RESOLVE_BENEATH semantics, which Node does
// not expose directly (`/proc/self/fd/N` jumps to the open directory; it never re-reads the path
// that was used to open it).
//
// Why: a sandboxed `bash` in the same turn can swap any directory for a symlink at any moment. A
// check-then-use on a path string ("is it inside?" then `open(path)`) re-resolves the path and
// follows the swapped link out of the workspace — with the server's uid (root on a plain VPS).
// Walking by descriptors leaves no window: a name swapped after it was checked either is not a
// symlink (fine) or makes the O_NOFOLLOW open fail.
//
// Symlinks that stay inside the root are still followed, like the kernel's RESOLVE_IN_ROOT: the
// link text is read (readlink on the same fd-relative name) and its components are walked the
// same way, so a link can never lead above the root; an absolute target counts only when it
// names a place under the root's own path. `..` above the root is refused.
//
// Files are opened with O_NOFOLLOW|O_NONBLOCK and checked with fstat: a FIFO, socket or device
// never blocks a libuv thread (four blocked opens used to stop the whole server) and is refused.
import { constants as C, promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ToolError } from '../../errors.ts';

const PROC_FD = '/proc/self/fd';
const O_DIR = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;
const MAX_LINKS = 40;
const MAX_COMPONENTS = 4096;

export interface Owner {
  uid: number;
  gid: number;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new ToolError('path_invalid', `Invalid path component "${name}"`);
  }
}

/** An open directory. Names are resolved relative to it, never through the path it was opened by. */
export class DirRef {
  readonly fh: FileHandle;
  /** Root-relative path, for messages (`.` for the root). */
  readonly rel: string;
  constructor(fh: FileHandle, rel: string) {
    this.fh = fh;
    this.rel = rel;
  }

  /** A path that names `name` inside this directory (one component, resolved by the kernel from the fd). */
  at(name: string): string {
    checkName(name);
    return `${PROC_FD}/${this.fh.fd}/${name}`;
  }

  /** A path for the directory itself (for readdir). */
  get self(): string {
    return `${PROC_FD}/${this.fh.fd}/.`;
  }

  child(name: string): string {
    return this.rel === '.' ? name : `${this.rel}/${name}`;
  }

  /** lstat of `name` here; null when it does not exist. */
  async lstat(name: string): Promise<Stats | null> {
    try {
      return await fsp.lstat(this.at(name));
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return null;
      throw err;
    }
  }

  /** Opens the subdirectory `name` (never through a symlink). */
  async openDir(name: string): Promise<DirRef> {
    try {
      return new DirRef(await fsp.open(this.at(name), O_DIR), this.child(name));
    } catch (err) {
      const code = errno(err);
      if (code === 'ELOOP' || code === 'ENOTDIR') {
        throw new ToolError(
          'path_changed',
          `"${this.child(name)}" is not a directory (or changed while in use)`,
        );
      }
      if (code === 'ENOENT') throw new ToolError('not_found', `No such directory: ${this.child(name)}`);
      throw err;
    }
  }

  /** Another descriptor for this same directory (callers close each one they hold). */
  async dup(): Promise<DirRef> {
    return new DirRef(await fsp.open(this.self, O_DIR), this.rel);
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => {});
  }
}

export type FileCheck = 'regular' | 'regular-single-link';

/**
 * Opens `name` in `dir` with O_NOFOLLOW|O_NONBLOCK and returns it only when it is a regular file
 * (and, with 'regular-single-link', has no other hard link: a link to a file outside the root
 * would pass every path check). Anything else is closed and refused.
 */
export async function openFileIn(
  dir: DirRef,
  name: string,
  flags: number,
  check: FileCheck = 'regular-single-link',
  mode = 0o644,
): Promise<{ fh: FileHandle; stat: Stats; created: boolean }> {
  const before = (flags & C.O_CREAT) !== 0 ? await dir.lstat(name) : null;
  let fh: FileHandle;
  try {
    fh = await fsp.open(dir.at(name), flags | C.O_NOFOLLOW | C.O_NONBLOCK, mode);
  } catch (err) {
    const code = errno(err);
    const shown = dir.child(name);
    if (code === 'ELOOP') throw new ToolError('path_invalid', `"${shown}" is a symbolic link`);
    if (code === 'EISDIR') throw new ToolError('invalid_input', `"${shown}" is a directory`);
    if (code === 'ENOENT') throw new ToolError('not_found', `No such file: ${shown}`);
    if (code === 'ENXIO' || code === 'ENODEV' || code === 'ETXTBSY')
      throw new ToolError('invalid_input', `"${shown}" is not a regular file`);
    throw err;
  }
  try {
    const stat = await fh.stat();
    if (!stat.isFile()) throw new ToolError('invalid_input', `"${dir.child(name)}" is not a regular file`);
    if (check === 'regular-single-link' && stat.nlink > 1) {
      throw new ToolError(
        'hard_link_refused',
        `Refusing to access "${dir.child(name)}": it has ${stat.nlink} hard links and may alias a file outside the workspace`,
      );
    }
    return { fh, stat, created: before === null && (flags & C.O_CREAT) !== 0 };
  } catch (err) {
    await fh.close().catch(() => {});
    throw err;
  }
}

/** Reads at most `max` bytes; `truncated` when the file had more. Never follows a growing file forever. */
export async function readBounded(
  fh: FileHandle,
  max: number,
): Promise<{ data: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const want = Math.min(64 * 1024, max + 1 - total);
    if (want <= 0) break;
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await fh.read(buf, 0, want, null);
    if (bytesRead === 0) break;
    chunks.push(buf.subarray(0, bytesRead));
    total += bytesRead;
  }
  const data = Buffer.concat(chunks, total);
  return total > max ? { data: data.subarray(0, max), truncated: true } : { data, truncated: false };
}

/** Where a path leads: a name inside an open directory, or the directory itself (`name` null). */
export interface Located {
  /** The directory holding `name` (or the located directory itself when `name` is null). */
  dir: DirRef;
  name: string | null;
  /** lstat of `name` when the lookup ended (null when missing, or when `name` is null). */
  stat: Stats | null;
  /** Root-relative path of what was located. */
  rel: string;
}

export interface LocateOptions {
  /** Follow a symlink in the last component (default true); false acts on the link itself. */
  followFinal?: boolean;
  /** Create missing intermediate directories (owned like the root). */
  createParents?: boolean;
}

/**
 * The root directory (a workspace) held open. Every lookup starts from it; nothing is ever
 * resolved through its path string again after `open`.
 */
export class BeneathRoot {
  readonly path: string;
  readonly owner: Owner;
  private readonly root: DirRef;

  private constructor(root: DirRef, rootPath: string, owner: Owner) {
    this.root = root;
    this.path = rootPath;
    this.owner = owner;
  }

  /** Opens `rootPath` (server-controlled: the workspace directory itself, not a path inside it). */
  static async open(rootPath: string): Promise<BeneathRoot> {
    const real = await fsp.realpath(rootPath);
    const fh = await fsp.open(real, O_DIR);
    const st = await fh.stat();
    return new BeneathRoot(new DirRef(fh, '.'), real, { uid: st.uid, gid: st.gid });
  }

  async close(): Promise<void> {
    await this.root.close();
  }

  /** A new descriptor for the root directory (callers close it). */
  openRoot(): Promise<DirRef> {
    return this.root.dup();
  }

  /** Whether files the server creates here must be given to the root's owner (a root server). */
  private get chownNeeded(): boolean {
    return typeof process.getuid === 'function' && process.getuid() !== this.owner.uid;
  }

  /** Gives a file or directory the server just created (by fd-relative name) to the root's owner. */
  async adopt(dir: DirRef, name: string): Promise<void> {
    if (this.chownNeeded) await fsp.lchown(dir.at(name), this.owner.uid, this.owner.gid);
  }

  async adoptHandle(fh: FileHandle): Promise<void> {
    if (this.chownNeeded) await fh.chown(this.owner.uid, this.owner.gid);
  }

  /** Creates directory `name` in `dir` (EEXIST is not an error when it is a directory) and opens it. */
  async mkdirIn(dir: DirRef, name: string): Promise<DirRef> {
    try {
      await fsp.mkdir(dir.at(name), { mode: 0o755 });
      await this.adopt(dir, name);
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err;
    }
    return dir.openDir(name);
  }

  /** Splits a user path into components relative to the root; absolute paths must name a place under it. */
  private components(userPath: string): string[] {
    if (typeof userPath !== 'string') throw new ToolError('path_invalid', 'Path must be a string');
    if (userPath.includes('\0')) throw new ToolError('path_invalid', 'Path contains a NUL byte');
    if (userPath.length > 4096) throw new ToolError('path_invalid', 'Path is too long');
    let p = userPath;
    if (path.isAbsolute(p)) {
      const rel = path.relative(this.path, path.normalize(p));
      if (rel.startsWith('..') || path.isAbsolute(rel)) throw outside(userPath);
      p = rel;
    }
    // Lexically above the root (`a/../../x`) is refused whether or not `a` exists.
    const norm = path.posix.normalize(p);
    if (norm === '..' || norm.startsWith('../')) throw outside(userPath);
    return p.split('/');
  }

  /** Re-opens the directory named by `names` from the root (after `..`), refusing symlinks on the way. */
  private async reopen(names: string[]): Promise<DirRef> {
    let cur = await this.root.dup();
    try {
      for (const n of names) {
        const next = await cur.openDir(n);
        await cur.close();
        cur = next;
      }
      return cur;
    } catch (err) {
      await cur.close();
      throw err;
    }
  }

  /**
   * Resolves `userPath` beneath the root. The caller owns `result.dir` and must close it. A
   * missing final component is returned with `stat: null`; a missing intermediate one is a
   * `not_found` error unless `createParents`.
   */
  async locate(userPath: string, opts: LocateOptions = {}): Promise<Located> {
    const followFinal = opts.followFinal ?? true;
    const queue = this.components(userPath);
    const names: string[] = [];
    let cur = await this.root.dup();
    let links = 0;
    let steps = 0;
    try {
      while (queue.length > 0) {
        if (++steps > MAX_COMPONENTS) throw new ToolError('path_invalid', 'Path has too many components');
        const c = queue.shift() as string;
        if (c === '' || c === '.') continue;
        if (c === '..') {
          if (names.length === 0) throw outside(userPath);
          names.pop();
          await cur.close();
          cur = await this.reopen(names);
          continue;
        }
        const last = queue.every((q) => q === '' || q === '.');
        const st = await cur.lstat(c);
        if (st === null) {
          if (last) return { dir: cur, name: c, stat: null, rel: cur.child(c) };
          if (!opts.createParents) throw new ToolError('not_found', `No such file or directory: ${userPath}`);
          const next = await this.mkdirIn(cur, c);
          await cur.close();
          cur = next;
          names.push(c);
          continue;
        }
        if (st.isSymbolicLink() && (!last || followFinal)) {
          if (++links > MAX_LINKS) throw new ToolError('path_invalid', 'Too many levels of symbolic links');
          const target = await fsp.readlink(cur.at(c));
          if (path.isAbsolute(target)) {
            const rel = path.relative(this.path, path.normalize(target));
            if (rel.startsWith('..') || path.isAbsolute(rel)) throw outside(userPath);
            names.length = 0;
            await cur.close();
            cur = await this.root.dup();
            queue.unshift(...rel.split('/'));
          } else {
            queue.unshift(...target.split('/'));
          }
          continue;
        }
        if (last) return { dir: cur, name: c, stat: st, rel: cur.child(c) };
        if (!st.isDirectory()) throw new ToolError('not_found', `Not a directory: ${cur.child(c)}`);
        const next = await cur.openDir(c);
        await cur.close();
        cur = next;
        names.push(c);
      }
      return { dir: cur, name: null, stat: null, rel: cur.rel };
    } catch (err) {
      await cur.close();
      throw err;
    }
  }

  /** The directory `userPath` leads to (following in-root symlinks), opened; caller closes it. */
  async openDirAt(userPath: string): Promise<DirRef> {
    const loc = await this.locate(userPath);
    if (loc.name === null) return loc.dir;
    try {
      if (loc.stat === null) throw new ToolError('not_found', `No such file or directory: ${userPath}`);
      if (!loc.stat.isDirectory()) throw new ToolError('invalid_input', `"${userPath}" is not a directory`);
      return await loc.dir.openDir(loc.name);
    } finally {
      await loc.dir.close();
    }
  }
}

function outside(userPath: string): ToolError {
  return new ToolError('path_outside_workspace', `Path "${userPath}" resolves outside the workspace`);
}

export interface WalkEntry {
  /** The directory holding the entry. */
  dir: DirRef;
  name: string;
  stat: Stats;
  /** Nesting level below the walk's start (its direct children are 1). */
  depth: number;
}

/**
 * How deep a walk goes. Every level holds one directory descriptor while its subtree is visited
 * (and servers often have only ~20k descriptors); no real repository comes near this depth, a
 * crafted tree that does is refused rather than walked.
 */
export const MAX_WALK_DEPTH = 256;

export class TooDeepError extends ToolError {
  constructor(where: string) {
    super('too_deep', `Directory nesting below "${where}" exceeds ${MAX_WALK_DEPTH} levels`);
  }
}

/**
 * Visits the tree under `dir` depth-first without following symlinks: directories are entered
 * through O_NOFOLLOW descriptors, so a directory swapped for a link mid-walk is skipped, never
 * followed. `visit` returns false to skip a directory's contents, 'stop' to end the walk.
 * `after` runs after a directory's contents were visited (removal works bottom-up).
 * Returns false when stopped. Throws TooDeepError past MAX_WALK_DEPTH.
 */
export async function walkTree(
  dir: DirRef,
  visit: (e: WalkEntry) => Promise<boolean | 'stop'> | boolean | 'stop',
  opts: { after?: (e: WalkEntry) => Promise<void> | void; signal?: AbortSignal; depth?: number } = {},
): Promise<boolean> {
  const depth = (opts.depth ?? 0) + 1;
  if (depth > MAX_WALK_DEPTH) throw new TooDeepError(dir.rel);
  let names: string[];
  try {
    names = await fsp.readdir(dir.self);
  } catch (err) {
    if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return true;
    throw err;
  }
  names.sort();
  for (const name of names) {
    if (opts.signal?.aborted) return false;
    const stat = await dir.lstat(name);
    if (!stat) continue;
    const entry: WalkEntry = { dir, name, stat, depth };
    const go = await visit(entry);
    if (go === 'stop') return false;
    if (go && stat.isDirectory()) {
      let sub: DirRef | undefined;
      try {
        sub = await dir.openDir(name);
      } catch {
        // swapped for a link or gone: nothing below it is visited
      }
      if (sub) {
        try {
          if (!(await walkTree(sub, visit, { ...opts, depth }))) return false;
        } finally {
          await sub.close();
        }
      }
    }
    if (opts.after) await opts.after(entry);
  }
  return true;
}

/**
 * Removes `name` from `dir` — a file, a link (the link itself) or a whole directory tree —
 * without ever following a symlink out. Returns the number of entries removed.
 */
export async function removeIn(dir: DirRef, name: string): Promise<number> {
  const st = await dir.lstat(name);
  if (!st) return 0;
  if (!st.isDirectory()) {
    await fsp.unlink(dir.at(name));
    return 1;
  }
  await ownerAccess(dir, name, st);
  let sub: DirRef;
  try {
    sub = await dir.openDir(name);
  } catch {
    // Became a link or a file between the lstat and the open: remove that instead.
    await fsp.unlink(dir.at(name));
    return 1;
  }
  let count = 0;
  try {
    await walkTree(
      sub,
      async (e) => {
        if (e.stat.isDirectory()) await ownerAccess(e.dir, e.name, e.stat);
        return true;
      },
      {
        after: async (e) => {
          if (e.stat.isDirectory()) await fsp.rmdir(e.dir.at(e.name));
          else await fsp.unlink(e.dir.at(e.name));
          count++;
        },
      },
    );
  } finally {
    await sub.close();
  }
  await fsp.rmdir(dir.at(name));
  return count + 1;
}

/** Linux O_PATH: a descriptor that names an inode without opening it (not in fs.constants). */
const O_PATH = 0o10000000;

/**
 * A directory the agent made inaccessible (chmod 000) must still be removable by a non-root
 * server (root ignores mode bits). chmod(2) follows symlinks, so it goes through an O_PATH
 * descriptor opened with O_NOFOLLOW|O_DIRECTORY: that can only ever be this directory.
 */
async function ownerAccess(dir: DirRef, name: string, st: Stats): Promise<void> {
  if (process.getuid?.() === 0 || (st.mode & 0o700) === 0o700) return;
  let fh: FileHandle | undefined;
  try {
    fh = await fsp.open(dir.at(name), O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW);
    await fsp.chmod(`${PROC_FD}/${fh.fd}`, (st.mode & 0o7777) | 0o700);
  } catch {
    // Not ours or gone: the removal below reports what is left.
  } finally {
    await fh?.close().catch(() => {});
  }
}
