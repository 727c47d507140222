// File edits as diffs: the edit tools' inputs carry the old and new text (fs `edit`/`write` of the
// native engine, Claude Code's Edit/MultiEdit/Write, the server's tools through MCP), so the diff
// is known the moment the call starts — before its result.
import { structuredPatch } from 'diff';

export interface DiffLine {
  kind: 'add' | 'del' | 'ctx' | 'hunk';
  text: string;
}

export interface FileEdit {
  path: string;
  /** `write`: the whole new content (the old one is not in the event). */
  op: 'edit' | 'write';
  lines: DiffLine[];
  /** Lines left out to keep the card small. */
  omitted: number;
}

const MAX_LINES = 400;

type Input = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function baseName(name: string): string {
  // mcp__server__fs → fs
  const i = name.lastIndexOf('__');
  return i >= 0 ? name.slice(i + 2) : name;
}

function patchLines(oldText: string, newText: string): DiffLine[] {
  const p = structuredPatch('a', 'b', oldText, newText, '', '', { context: 3 });
  const out: DiffLine[] = [];
  for (const h of p.hunks) {
    out.push({ kind: 'hunk', text: `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@` });
    for (const l of h.lines) {
      if (l.startsWith('\\')) continue; // "\ No newline at end of file"
      const kind = l[0] === '+' ? 'add' : l[0] === '-' ? 'del' : 'ctx';
      out.push({ kind, text: l.slice(1) });
    }
  }
  return out;
}

function capped(path: string, op: FileEdit['op'], lines: DiffLine[]): FileEdit {
  return { path, op, lines: lines.slice(0, MAX_LINES), omitted: Math.max(0, lines.length - MAX_LINES) };
}

/** The edit a tool call makes, or undefined when it makes none. */
export function fileEditOf(name: string, input: unknown): FileEdit | undefined {
  if (typeof input !== 'object' || input === null) return undefined;
  const i = input as Input;
  const tool = baseName(name);
  if (tool === 'fs') {
    const path = str(i.path) ?? '?';
    if (i.operation === 'edit' && str(i.oldString) !== undefined && str(i.newString) !== undefined)
      return capped(path, 'edit', patchLines(str(i.oldString)!, str(i.newString)!));
    if (i.operation === 'write' && str(i.content) !== undefined)
      return capped(path, 'write', addedLines(str(i.content)!));
    return undefined;
  }
  if (tool === 'Edit' && str(i.old_string) !== undefined && str(i.new_string) !== undefined)
    return capped(str(i.file_path) ?? '?', 'edit', patchLines(str(i.old_string)!, str(i.new_string)!));
  if (tool === 'MultiEdit' && Array.isArray(i.edits)) {
    const lines: DiffLine[] = [];
    for (const e of i.edits as Input[]) {
      if (str(e?.old_string) !== undefined && str(e?.new_string) !== undefined)
        lines.push(...patchLines(str(e.old_string)!, str(e.new_string)!));
    }
    return capped(str(i.file_path) ?? '?', 'edit', lines);
  }
  if (tool === 'Write' && str(i.content) !== undefined)
    return capped(str(i.file_path) ?? '?', 'write', addedLines(str(i.content)!));
  return undefined;
}

function addedLines(content: string): DiffLine[] {
  const lines = content.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((text) => ({ kind: 'add', text }));
}
