// The `fs` tool (CONTRACT §9): read, write, edit, list, delete, move, copy, search — every path
// through the path guard, symlinks never followed out of the workspace.
import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { isInside, resolveInWorkspace } from '../sandbox/path-guard.ts';
import { copyTree, listTree, lstatOrNull, openVerified } from './fs-ops.ts';
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

export function createFsTool(deps: { config: Config }): Tool<FsInput> {
  const limitChars = deps.config.toolOutputLimit;

  async function readText(ws: string, real: string, shown: string): Promise<string> {
    const fh = await openVerified(ws, real, constants.O_RDONLY);
    try {
      const st = await fh.stat();
      if (st.size > MAX_READ_BYTES) {
        throw new ToolError(
          'too_large',
          `"${shown}" is ${st.size} bytes; reading is limited to ${MAX_READ_BYTES}`,
        );
      }
      const buf = await fh.readFile();
      if (buf.subarray(0, 8192).includes(0)) {
        throw new ToolError('binary_file', `"${shown}" looks like a binary file; it cannot be read as text`);
      }
      return buf.toString('utf8');
    } finally {
      await fh.close();
    }
  }

  async function read(ws: string, input: FsInput): Promise<ToolResult> {
    const real = await resolveInWorkspace(ws, input.path);
    if ((await fsp.stat(real)).isDirectory()) {
      throw new ToolError('invalid_input', `"${input.path}" is a directory; use operation "list"`);
    }
    const text = await readText(ws, real, input.path);
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

  async function write(ws: string, input: FsInput): Promise<ToolResult> {
    const content = need(input.content, 'content', 'write');
    const bytes = Buffer.byteLength(content, 'utf8');
    if (bytes > MAX_WRITE_BYTES)
      throw new ToolError('too_large', `Content is ${bytes} bytes; the limit is ${MAX_WRITE_BYTES}`);
    const real = await resolveInWorkspace(ws, input.path, { allowMissing: true });
    if (real === ws) throw new ToolError('invalid_input', 'Cannot write to the workspace root');
    const existed = (await lstatOrNull(real)) !== null;
    await fsp.mkdir(path.dirname(real), { recursive: true });
    // No O_TRUNC at open: truncate only after the opened file has been verified.
    const fh = await openVerified(ws, real, constants.O_WRONLY | constants.O_CREAT);
    try {
      await fh.truncate(0);
      await fh.writeFile(content, 'utf8');
    } finally {
      await fh.close();
    }
    return ok(`${existed ? 'Overwrote' : 'Created'} ${input.path} (${bytes} bytes)`);
  }

  async function edit(ws: string, input: FsInput): Promise<ToolResult> {
    const oldString = need(input.oldString, 'oldString', 'edit');
    const newString = need(input.newString, 'newString', 'edit');
    if (oldString.length === 0) throw new ToolError('invalid_input', 'oldString must not be empty');
    if (oldString === newString)
      throw new ToolError('invalid_input', 'oldString and newString are identical');
    const real = await resolveInWorkspace(ws, input.path);
    const text = await readText(ws, real, input.path);
    const count = countOccurrences(text, oldString);
    if (count === 0) throw new ToolError('edit_no_match', `oldString was not found in ${input.path}`);
    if (count > 1 && !input.replaceAll) {
      throw new ToolError(
        'edit_ambiguous',
        `oldString occurs ${count} times in ${input.path}; include more surrounding text to make it unique, or set replaceAll`,
      );
    }
    // split/join and slicing: no `$&`-style replacement patterns from String.replace.
    const next = input.replaceAll
      ? text.split(oldString).join(newString)
      : (() => {
          const at = text.indexOf(oldString);
          return text.slice(0, at) + newString + text.slice(at + oldString.length);
        })();
    if (Buffer.byteLength(next, 'utf8') > MAX_WRITE_BYTES)
      throw new ToolError('too_large', 'The edited file would be too large');
    const fh = await openVerified(ws, real, constants.O_WRONLY);
    try {
      await fh.truncate(0);
      await fh.writeFile(next, 'utf8');
    } finally {
      await fh.close();
    }
    return ok(
      `Edited ${input.path}: replaced ${input.replaceAll ? count : 1} occurrence${count > 1 && input.replaceAll ? 's' : ''}`,
    );
  }

  async function list(ws: string, input: FsInput): Promise<ToolResult> {
    const real = await resolveInWorkspace(ws, input.path);
    const st = await fsp.stat(real);
    if (!st.isDirectory()) return ok(`${input.path} (file, ${st.size} bytes)`);
    const { entries, truncated } = await listTree(real, {
      recursive: input.recursive ?? false,
      maxEntries: MAX_LIST_ENTRIES,
    });
    if (entries.length === 0) return ok('(empty directory)');
    const note = truncated ? `\n[listing stopped at ${MAX_LIST_ENTRIES} entries; list a subdirectory]` : '';
    return ok(entries.join('\n') + note);
  }

  async function remove(ws: string, input: FsInput): Promise<ToolResult> {
    const real = await resolveInWorkspace(ws, input.path, { followFinal: false });
    if (real === ws) throw new ToolError('invalid_input', 'Refusing to delete the workspace root');
    // fs.rm removes a symlink itself, and never descends through one.
    await fsp.rm(real, { recursive: true, force: false });
    return ok(`Deleted ${input.path}`);
  }

  /** Destination for move/copy: an existing directory receives the source by name (like mv/cp). */
  async function destinationFor(ws: string, src: string, destination: string): Promise<string> {
    let dest = await resolveInWorkspace(ws, destination, { allowMissing: true, followFinal: false });
    const st = await lstatOrNull(dest);
    if (st?.isDirectory()) dest = path.join(dest, path.basename(src));
    if (!isInside(ws, dest) || dest === ws)
      throw new ToolError('path_outside_workspace', 'Invalid destination');
    if (await lstatOrNull(dest)) {
      throw new ToolError(
        'destination_exists',
        `Destination "${destination}" already exists; delete it first`,
      );
    }
    if (isInside(src, dest))
      throw new ToolError('invalid_input', 'Cannot move or copy a directory into itself');
    await fsp.mkdir(path.dirname(dest), { recursive: true });
    return dest;
  }

  async function moveOrCopy(ws: string, input: FsInput): Promise<ToolResult> {
    const destination = need(input.destination, 'destination', input.operation);
    const isMove = input.operation === 'move';
    // A move renames a link itself; a copy of a link argument copies what it points to (inside).
    const src = await resolveInWorkspace(ws, input.path, { followFinal: !isMove });
    if (src === ws) throw new ToolError('invalid_input', `Refusing to ${input.operation} the workspace root`);
    const dest = await destinationFor(ws, src, destination);
    const shown = path.relative(ws, dest);
    if (isMove) {
      await fsp.rename(src, dest);
      return ok(`Moved ${input.path} to ${shown}`);
    }
    const n = await copyTree(src, dest);
    return ok(`Copied ${input.path} to ${shown}${n > 1 ? ` (${n} entries)` : ''}`);
  }

  async function search(ws: string, input: FsInput, ctx: ToolContext): Promise<ToolResult> {
    const pattern = need(input.pattern, 'pattern', 'search');
    const root = await resolveInWorkspace(ws, input.path);
    const reply = await searchFiles({
      root,
      displayRoot: path.relative(ws, root).split(path.sep).join('/'),
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
      const ws = await fsp.realpath(ctx.workspace);
      try {
        switch (input.operation) {
          case 'read':
            return await read(ws, input);
          case 'write':
            return await write(ws, input);
          case 'edit':
            return await edit(ws, input);
          case 'list':
            return await list(ws, input);
          case 'delete':
            return await remove(ws, input);
          case 'move':
          case 'copy':
            return await moveOrCopy(ws, input);
          case 'search':
            return await search(ws, input, ctx);
        }
      } catch (err) {
        if (err instanceof ToolError) throw err;
        // Plain fs errors (ENOTEMPTY, EACCES, …) become readable tool errors, not crashes.
        const e = err as NodeJS.ErrnoException;
        throw new ToolError('fs_error', `fs ${input.operation} failed: ${e.code ?? ''} ${e.message}`.trim());
      }
    },
  };
}
