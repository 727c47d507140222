// The `fs` tool (docs/api.md §9): read, write, edit, list, delete, move, copy, search.
//
// It runs in the server process, with the server's authority (root on a plain VPS), on a tree the
// agent writes to at the same time (a parallel `bash` in the same turn). So it never resolves a
// path string twice: every operation goes through descriptors beneath the workspace root
// (src/sandbox/workspace/beneath.ts — openat(2)/RESOLVE_BENEATH semantics), files are opened O_NOFOLLOW |
// O_NONBLOCK and checked with fstat, and what it creates is given to the workspace's owner.
import { constants as C, promises as fsp } from 'node:fs';
import { z } from 'zod';
import type { Config } from '../config.ts';
import {
  BeneathRoot,
  type DirRef,
  type Located,
  openFileIn,
  readBounded,
  removeIn,
} from '../sandbox/workspace/beneath.ts';
import { copyEntry, listTree } from './fs-ops.ts';
import { searchFiles } from './fs-search.ts';
import { type Tool, type ToolContext, ToolError, type ToolResult } from './types.ts';

const MAX_READ_BYTES = 10 * 1024 * 1024;
const MAX_WRITE_BYTES = 5 * 1024 * 1024;
const MAX_LIST_ENTRIES = 1000;

const OPERATIONS = ['read', 'write', 'edit', 'list', 'delete', 'move', 'copy', 'search'] as const;

export const fsInput = z.object({
  operation: z.enum(OPERATIONS),
  path: z.string().max(4096).describe('Path relative to the workspace'),
  content: z.string().max(MAX_WRITE_BYTES).optional().describe('write: the full new content'),
  oldString: z.string().max(1_000_000).optional().describe('edit: exact text to replace'),
  newString: z.string().max(MAX_WRITE_BYTES).optional().describe('edit: replacement text'),
  replaceAll: z
    .boolean()
    .optional()
    .describe('edit: replace every occurrence (default: exactly one must exist)'),
  destination: z.string().max(4096).optional().describe('move/copy: target path'),
  pattern: z.string().max(1000).optional().describe('search: JavaScript regular expression matched per line'),
  ignoreCase: z.boolean().optional().describe('search: case-insensitive'),
  glob: z.string().max(500).optional().describe('search: file filter, e.g. "*.ts" or "src/**/*.js"'),
  offset: z.number().int().min(1).optional().describe('read: first line to return (1-based)'),
  limit: z.number().int().min(1).optional().describe('read: number of lines to return'),
  recursive: z.boolean().optional().describe('list: include subdirectories'),
});
export type FsInput = z.infer<typeof fsInput>;

function ok(output: string, meta?: Record<string, unknown>): ToolResult {
  return meta ? { output, isError: false, meta } : { output, isError: false };
}

function need<T>(value: T | undefined, field: string, op: string): T {
  if (value === undefined) throw new ToolError('invalid_input', `fs ${op} needs "${field}"`);
  return value;
}

function countOccurrences(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** Runs `fn` with the located entry and always closes its directory descriptor. */
async function at<T>(loc: Located, fn: (loc: Located) => Promise<T>): Promise<T> {
  try {
    return await fn(loc);
  } finally {
    await loc.dir.close();
  }
}

export function createFsTool(deps: { config: Config }): Tool<FsInput> {
  const limitChars = deps.config.toolOutputLimit;

  async function readText(dir: DirRef, name: string, shown: string): Promise<string> {
    const { fh, stat } = await openFileIn(dir, name, C.O_RDONLY);
    try {
      if (stat.size > MAX_READ_BYTES) {
        throw new ToolError(
          'too_large',
          `"${shown}" is ${stat.size} bytes; reading is limited to ${MAX_READ_BYTES}`,
        );
      }
      const { data, truncated } = await readBounded(fh, MAX_READ_BYTES);
      if (truncated)
        throw new ToolError('too_large', `"${shown}" grew past ${MAX_READ_BYTES} bytes while reading`);
      if (data.subarray(0, 8192).includes(0)) {
        throw new ToolError('binary_file', `"${shown}" looks like a binary file; it cannot be read as text`);
      }
      return data.toString('utf8');
    } finally {
      await fh.close();
    }
  }

  /** The located entry must be an existing non-directory. */
  function needFile(loc: Located, userPath: string): string {
    if (loc.name === null || loc.stat?.isDirectory()) {
      throw new ToolError('invalid_input', `"${userPath}" is a directory; use operation "list"`);
    }
    if (loc.stat === null) throw new ToolError('not_found', `No such file or directory: ${userPath}`);
    return loc.name;
  }

  async function read(root: BeneathRoot, input: FsInput): Promise<ToolResult> {
    const text = await at(await root.locate(input.path), (loc) =>
      readText(loc.dir, needFile(loc, input.path), input.path),
    );
    if (text.length === 0) return ok('(empty file)');
    if (input.offset === undefined && input.limit === undefined && text.length <= limitChars) return ok(text);
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    const start = (input.offset ?? 1) - 1;
    if (start >= lines.length)
      return ok(`(offset ${input.offset} is past the end: the file has ${lines.length} lines)`);
    const end = Math.min(lines.length, input.limit === undefined ? lines.length : start + input.limit);
    let out = '';
    let i = start;
    for (; i < end; i++) {
      const line = lines[i]!;
      if (out.length + line.length + 1 > limitChars && i > start) break;
      out += `${line.length > limitChars ? `${line.slice(0, limitChars)}…` : line}\n`;
    }
    if (i < lines.length || start > 0) {
      out += `[showing lines ${start + 1}-${i} of ${lines.length}; use offset/limit to read more]`;
    }
    return ok(out);
  }

  async function write(root: BeneathRoot, input: FsInput): Promise<ToolResult> {
    const content = need(input.content, 'content', 'write');
    const bytes = Buffer.byteLength(content, 'utf8');
    if (bytes > MAX_WRITE_BYTES)
      throw new ToolError('too_large', `Content is ${bytes} bytes; the limit is ${MAX_WRITE_BYTES}`);
    return at(await root.locate(input.path, { createParents: true }), async (loc) => {
      if (loc.name === null) throw new ToolError('invalid_input', 'Cannot write to the workspace root');
      if (loc.stat?.isDirectory()) throw new ToolError('invalid_input', `"${input.path}" is a directory`);
      // No O_TRUNC at open: truncate only once the opened file has been verified.
      const { fh, created } = await openFileIn(loc.dir, loc.name, C.O_WRONLY | C.O_CREAT);
      try {
        if (created) await root.adoptHandle(fh);
        await fh.truncate(0);
        await fh.write(content, 0, 'utf8');
      } finally {
        await fh.close();
      }
      return ok(`${created ? 'Created' : 'Overwrote'} ${input.path} (${bytes} bytes)`);
    });
  }

  async function edit(root: BeneathRoot, input: FsInput): Promise<ToolResult> {
    const oldString = need(input.oldString, 'oldString', 'edit');
    const newString = need(input.newString, 'newString', 'edit');
    if (oldString.length === 0) throw new ToolError('invalid_input', 'oldString must not be empty');
    if (oldString === newString)
      throw new ToolError('invalid_input', 'oldString and newString are identical');
    return at(await root.locate(input.path), async (loc) => {
      const name = needFile(loc, input.path);
      const { fh, stat } = await openFileIn(loc.dir, name, C.O_RDWR);
      try {
        if (stat.size > MAX_READ_BYTES)
          throw new ToolError('too_large', `"${input.path}" is too large to edit`);
        const { data } = await readBounded(fh, MAX_READ_BYTES);
        if (data.subarray(0, 8192).includes(0)) {
          throw new ToolError(
            'binary_file',
            `"${input.path}" looks like a binary file; it cannot be edited as text`,
          );
        }
        const text = data.toString('utf8');
        const count = countOccurrences(text, oldString);
        if (count === 0) throw new ToolError('edit_no_match', `oldString was not found in ${input.path}`);
        if (count > 1 && !input.replaceAll) {
          throw new ToolError(
            'edit_ambiguous',
            `oldString occurs ${count} times in ${input.path}; include more surrounding text to make it unique, or set replaceAll`,
          );
        }
        // split/join and slicing: no `$&`-style replacement patterns from String.replace.
        const at0 = text.indexOf(oldString);
        const next = input.replaceAll
          ? text.split(oldString).join(newString)
          : text.slice(0, at0) + newString + text.slice(at0 + oldString.length);
        if (Buffer.byteLength(next, 'utf8') > MAX_WRITE_BYTES)
          throw new ToolError('too_large', 'The edited file would be too large');
        await fh.truncate(0);
        await fh.write(next, 0, 'utf8');
        return ok(
          `Edited ${input.path}: replaced ${input.replaceAll ? count : 1} occurrence${count > 1 && input.replaceAll ? 's' : ''}`,
        );
      } finally {
        await fh.close();
      }
    });
  }

  async function list(root: BeneathRoot, input: FsInput): Promise<ToolResult> {
    return at(await root.locate(input.path), async (loc) => {
      if (loc.name !== null && loc.stat === null)
        throw new ToolError('not_found', `No such file or directory: ${input.path}`);
      if (loc.name !== null && !loc.stat?.isDirectory())
        return ok(`${input.path} (file, ${loc.stat?.size ?? 0} bytes)`);
      const dir = loc.name === null ? await loc.dir.dup() : await loc.dir.openDir(loc.name);
      try {
        const { entries, truncated } = await listTree(dir, {
          recursive: input.recursive ?? false,
          maxEntries: MAX_LIST_ENTRIES,
        });
        if (entries.length === 0) return ok('(empty directory)');
        const note = truncated
          ? `\n[listing stopped at ${MAX_LIST_ENTRIES} entries; list a subdirectory]`
          : '';
        return ok(entries.join('\n') + note);
      } finally {
        await dir.close();
      }
    });
  }

  async function remove(root: BeneathRoot, input: FsInput): Promise<ToolResult> {
    return at(await root.locate(input.path, { followFinal: false }), async (loc) => {
      if (loc.name === null) throw new ToolError('invalid_input', 'Refusing to delete the workspace root');
      if (loc.stat === null) throw new ToolError('not_found', `No such file or directory: ${input.path}`);
      await removeIn(loc.dir, loc.name);
      return ok(`Deleted ${input.path}`);
    });
  }

  /**
   * Destination for move/copy: an existing directory receives the source by name (like mv/cp);
   * anything else that exists is refused. Returns the directory to create in and the new name.
   */
  async function destinationFor(
    root: BeneathRoot,
    srcName: string,
    destination: string,
  ): Promise<{ dir: DirRef; name: string; rel: string }> {
    const loc = await root.locate(destination, { followFinal: false, createParents: true });
    try {
      if (loc.name === null || loc.stat?.isDirectory()) {
        const dir = loc.name === null ? await loc.dir.dup() : await loc.dir.openDir(loc.name);
        if (await dir.lstat(srcName)) {
          await dir.close();
          throw new ToolError(
            'destination_exists',
            `Destination "${destination}" already has "${srcName}"; delete it first`,
          );
        }
        return { dir, name: srcName, rel: dir.child(srcName) };
      }
      if (loc.stat !== null) {
        throw new ToolError(
          'destination_exists',
          `Destination "${destination}" already exists; delete it first`,
        );
      }
      return { dir: await loc.dir.dup(), name: loc.name, rel: loc.rel };
    } finally {
      await loc.dir.close();
    }
  }

  async function moveOrCopy(root: BeneathRoot, input: FsInput): Promise<ToolResult> {
    const destination = need(input.destination, 'destination', input.operation);
    const isMove = input.operation === 'move';
    // A move renames a link itself; a copy of a link argument copies what it points to (inside).
    return at(await root.locate(input.path, { followFinal: !isMove }), async (src) => {
      if (src.name === null)
        throw new ToolError('invalid_input', `Refusing to ${input.operation} the workspace root`);
      if (src.stat === null) throw new ToolError('not_found', `No such file or directory: ${input.path}`);
      const dest = await destinationFor(root, src.name, destination);
      try {
        if (src.stat.isDirectory() && (dest.rel === src.rel || dest.rel.startsWith(`${src.rel}/`)))
          throw new ToolError('invalid_input', 'Cannot move or copy a directory into itself');
        if (isMove) {
          try {
            await fsp.rename(src.dir.at(src.name), dest.dir.at(dest.name));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'EINVAL')
              throw new ToolError('invalid_input', 'Cannot move a directory into itself');
            throw err;
          }
          return ok(`Moved ${input.path} to ${dest.rel}`);
        }
        if (!src.stat.isFile() && !src.stat.isDirectory() && !src.stat.isSymbolicLink())
          throw new ToolError('invalid_input', `"${input.path}" is not a regular file or directory`);
        const n = await copyEntry(root, src.dir, src.name, dest.dir, dest.name);
        return ok(`Copied ${input.path} to ${dest.rel}${n > 1 ? ` (${n} entries)` : ''}`);
      } finally {
        await dest.dir.close();
      }
    });
  }

  async function search(root: BeneathRoot, input: FsInput, ctx: ToolContext): Promise<ToolResult> {
    const pattern = need(input.pattern, 'pattern', 'search');
    const reply = await searchFiles({
      workspace: root.path,
      path: input.path,
      pattern,
      ignoreCase: input.ignoreCase,
      glob: input.glob,
      signal: ctx.signal,
    });
    if (reply.lines.length === 0) return ok(`No matches (${reply.filesScanned} files searched)`);
    let out = '';
    let shownCount = 0;
    for (const line of reply.lines) {
      if (out.length + line.length + 1 > limitChars) break;
      out += `${line}\n`;
      shownCount++;
    }
    if (reply.truncated || shownCount < reply.lines.length) {
      out += `[showing ${shownCount} matches${reply.truncated ? '; more exist' : ` of ${reply.lines.length}`}: narrow the pattern, path or glob]`;
    }
    return ok(out.trimEnd());
  }

  return {
    name: 'fs',
    description:
      'Files in the workspace. Operations: read (path, offset?, limit? in lines), write (path, content), ' +
      'edit (path, oldString, newString, replaceAll?; oldString must match exactly once unless replaceAll), ' +
      'list (path, recursive?), delete (path), move/copy (path, destination), search (path, pattern as a ' +
      'JavaScript regex, glob?, ignoreCase?; skips .git, node_modules and binary files). Paths are relative to the workspace.',
    input: fsInput,
    async execute(input: FsInput, ctx: ToolContext): Promise<ToolResult> {
      const root = await BeneathRoot.open(ctx.workspace);
      try {
        switch (input.operation) {
          case 'read':
            return await read(root, input);
          case 'write':
            return await write(root, input);
          case 'edit':
            return await edit(root, input);
          case 'list':
            return await list(root, input);
          case 'delete':
            return await remove(root, input);
          case 'move':
          case 'copy':
            return await moveOrCopy(root, input);
          case 'search':
            return await search(root, input, ctx);
        }
      } catch (err) {
        if (err instanceof ToolError) throw err;
        // Plain fs errors (ENOTEMPTY, EACCES, …) become readable tool errors, not crashes.
        const e = err as NodeJS.ErrnoException;
        throw new ToolError('fs_error', `fs ${input.operation} failed: ${e.code ?? ''} ${e.message}`.trim());
      } finally {
        await root.close();
      }
    },
  };
}
