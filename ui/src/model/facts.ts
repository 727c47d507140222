// What a tool call did, read from its input and result: the one-line summary of its input, the
// commit it made, the push, a pull request it opened. These come from tool output the agent
// controls, so they are shown as text (links only for http(s) URLs), never trusted as markup.
import type { ToolItem } from './run.ts';

type Input = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function toolBase(name: string): string {
  const i = name.lastIndexOf('__');
  return i >= 0 ? name.slice(i + 2) : name;
}

/** A short description of the call: the command, the path, or compact JSON. */
export function inputSummary(name: string, input: unknown): string {
  if (typeof input !== 'object' || input === null) return input === undefined ? '' : String(input);
  const i = input as Input;
  const tool = toolBase(name);
  const cut = (s: string) => (s.length > 160 ? `${s.slice(0, 157)}…` : s);
  if (str(i.command)) return cut(str(i.command)!.split('\n')[0] ?? '');
  if (tool === 'fs' || tool === 'git' || tool === 'gh') {
    const parts = [str(i.operation), str(i.path) ?? str(i.file_path), str(i.message)];
    return cut(parts.filter(Boolean).join(' '));
  }
  if (str(i.file_path)) return cut(str(i.file_path)!);
  if (str(i.path)) return cut(str(i.path)!);
  return cut(JSON.stringify(input));
}

export interface Commit {
  branch: string;
  sha: string;
  message: string;
}

const COMMIT_LINE = /^\[([^\s\]]+)(?: \(root-commit\))? ([0-9a-f]{7,40})\] (.+)$/m;

function isCommitCall(t: ToolItem): boolean {
  const i = (t.input ?? {}) as Input;
  const tool = toolBase(t.name);
  if (tool === 'git') return i.operation === 'commit';
  return /\bgit\b[^\n]*\bcommit\b/.test(str(i.command) ?? '');
}

/** The commit a finished `git commit` made (`[main f15caa3] message`). */
export function commitOf(t: ToolItem): Commit | undefined {
  if (!t.result || t.result.isError || !isCommitCall(t)) return undefined;
  const m = COMMIT_LINE.exec(t.result.output);
  return m ? { branch: m[1]!, sha: m[2]!, message: m[3]! } : undefined;
}

const PUSH_LINE =
  /^\s*(?:\+\s*)?([0-9a-f]{7,40}\.\.\.?[0-9a-f]{7,40}|\* \[new branch\])\s+(\S+)\s+->\s+(\S+)/m;

/** A finished push: the range and the ref it updated. */
export function pushOf(t: ToolItem): { range: string; ref: string } | undefined {
  if (!t.result || t.result.isError) return undefined;
  const i = (t.input ?? {}) as Input;
  const isPush =
    (toolBase(t.name) === 'git' && i.operation === 'push') ||
    /\bgit\b[^\n]*\bpush\b/.test(str(i.command) ?? '');
  if (!isPush) return undefined;
  const m = PUSH_LINE.exec(t.result.output);
  return m ? { range: m[1]!, ref: m[3]! } : undefined;
}

const PR_URL = /https?:\/\/[^\s"'<>]+\/pull\/\d+/;

/** A pull request URL in the result of a call that opens one (gh pr_create, `gh pr create`). */
export function pullRequestOf(t: ToolItem): string | undefined {
  if (!t.result || t.result.isError) return undefined;
  const i = (t.input ?? {}) as Input;
  const opens =
    (toolBase(t.name) === 'gh' && i.operation === 'pr_create') ||
    /\bgh\b[^\n]*\bpr\b[^\n]*\bcreate\b/.test(str(i.command) ?? '');
  if (!opens) return undefined;
  return PR_URL.exec(t.result.output)?.[0];
}

/** Only http(s) URLs become links. */
export function safeHttpUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}
