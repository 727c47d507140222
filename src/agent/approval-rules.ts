// Which approval rule (docs/api.md §10) a tool call matches, for both engines. Pure: no I/O.
//
// Engine tool names map to the engine-neutral rules:
// - `shell`, `shell:<glob>`: native `bash`, Claude Code `Bash` (on the `command` input).
// - `write`: native `fs` write/edit/delete/move/copy; Claude Code Write, Edit, MultiEdit, NotebookEdit.
// - `git.push`: the `git` tool's `push`; a shell command that names both `git` and `push`.
// - `github`: the `gh` tool's operations other than the read-only ones.
// - `mcp`: any MCP tool (`mcp__<server>__<tool>`) other than the server's own tools, which reach
//   Claude Code as `mcp__server__<name>` and are judged by `<name>`.
// - `*`: every tool call.
// The first rule of the policy's list that matches is the one reported.
//
// `shell:<glob>` and the shell side of `git.push` read the command text; they are a convenience
// against the agent's usual commands, not a parser of the shell: a command can hide what it runs
// (quoting, `sh -c`, a script it wrote). `shell` (every command) is the strict gate.

/** The server's own tools inside Claude Code (claude-code/policy.ts SERVER_MCP_NAME). */
const SERVER_TOOL_PREFIX = 'mcp__server__';

const SHELL_TOOLS = new Set(['bash', 'Bash']);
const CLAUDE_WRITE_TOOLS = new Set(['Write', 'Edit', 'MultiEdit', 'NotebookEdit']);
const FS_WRITE_OPERATIONS = new Set(['write', 'edit', 'delete', 'move', 'copy']);
/** `gh` operations that only read; every other one (and any added later) counts as a write. */
const GH_READ_OPERATIONS = new Set(['pr_view', 'pr_list', 'issue_view']);

/** What a tool call does, in the terms of the rules. */
export interface ToolCallKind {
  /** The command, for shell calls (empty when the input has none). */
  shell?: string;
  write: boolean;
  gitPush: boolean;
  github: boolean;
  mcp: boolean;
}

function field(input: unknown, key: string): unknown {
  return typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[key] : undefined;
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

export function classifyToolCall(name: string, input: unknown): ToolCallKind {
  const tool = name.startsWith(SERVER_TOOL_PREFIX) ? name.slice(SERVER_TOOL_PREFIX.length) : name;
  const op = text(field(input, 'operation'));
  const kind: ToolCallKind = { write: false, gitPush: false, github: false, mcp: false };
  if (SHELL_TOOLS.has(tool)) {
    kind.shell = text(field(input, 'command'));
    kind.gitPush = mentionsGitPush(kind.shell);
  } else if (tool === 'fs') kind.write = FS_WRITE_OPERATIONS.has(op);
  else if (CLAUDE_WRITE_TOOLS.has(tool)) kind.write = true;
  else if (tool === 'git') kind.gitPush = op === 'push';
  else if (tool === 'gh') kind.github = !GH_READ_OPERATIONS.has(op);
  else if (tool.startsWith('mcp__')) kind.mcp = true;
  return kind;
}

/** Whether `rule` covers a call of this kind. */
export function ruleMatches(rule: string, kind: ToolCallKind): boolean {
  if (rule === '*') return true;
  if (rule === 'shell') return kind.shell !== undefined;
  if (rule.startsWith('shell:')) return kind.shell !== undefined && commandMatches(rule.slice(6), kind.shell);
  if (rule === 'write') return kind.write;
  if (rule === 'git.push') return kind.gitPush;
  if (rule === 'github') return kind.github;
  if (rule === 'mcp') return kind.mcp;
  return false; // not a rule (the request schema refuses such policies)
}

/** The first of `rules` that the call matches, or undefined (the call runs without asking). */
export function matchApprovalRule(
  rules: readonly string[],
  name: string,
  input: unknown,
): string | undefined {
  if (rules.length === 0) return undefined;
  const kind = classifyToolCall(name, input);
  return rules.find((r) => ruleMatches(r, kind));
}

/**
 * A shell command that names both `git` and `push` as words: `git push`, `git -C x push`,
 * `cd a && git push origin main`, and also an alias set up for it (`git config alias.p push`).
 * Errs towards asking (`git log --grep push` asks too).
 */
export function mentionsGitPush(command: string): boolean {
  return /(^|[^\w.-])git($|[^\w-])/.test(command) && /\bpush\b/.test(command);
}

/** Words that run the rest of the line as a command (`sudo rm x` is an `rm`). */
const WRAPPERS = new Set(['sudo', 'env', 'command', 'exec', 'nohup', 'time', 'nice', 'builtin', 'xargs']);

/**
 * The simple commands of a command line, each as written and normalised: split at `;`, `&`, `|`,
 * newlines, `(`, `)`, `` ` ``, `$(`, `{`, `}`; leading `VAR=value` assignments and wrapper words
 * dropped; the program's directory dropped (`/bin/rm` → `rm`).
 */
export function simpleCommands(command: string): string[] {
  const out: string[] = [];
  for (const raw of command.split(/[;&|\n\r()`{}]|\$\(/)) {
    const part = raw.trim();
    if (part === '') continue;
    out.push(part);
    const words = part.split(/\s+/);
    let i = 0;
    while (i < words.length && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!) || WRAPPERS.has(words[i]!))) i++;
    if (i >= words.length) continue;
    const program = words[i]!.slice(words[i]!.lastIndexOf('/') + 1);
    const normal = [program, ...words.slice(i + 1)].join(' ');
    if (normal !== part) out.push(normal);
  }
  return out;
}

/**
 * `shell:<glob>`: the glob matches the whole command or one of its simple commands. In the glob,
 * `*` is any text (spaces and `/` included), `?` one character, `[abc]`/`[!abc]` a class, `\x` a
 * literal x; it is anchored at both ends and case-sensitive (`rm *` matches `rm -rf build`, not `npm rm`).
 */
export function commandMatches(glob: string, command: string): boolean {
  const re = commandGlob(glob);
  const whole = command.trim();
  return re.test(whole) || simpleCommands(whole).some((c) => re.test(c));
}

const cache = new Map<string, RegExp>();

export function commandGlob(glob: string): RegExp {
  let re = cache.get(glob);
  if (re) return re;
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') src += '[\\s\\S]*';
    else if (c === '?') src += '[\\s\\S]';
    else if (c === '\\' && i + 1 < glob.length) src += escapeRe(glob[++i]!);
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) {
        src += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end).replace(/[\\^]/g, (m) => `\\${m}`);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      src += `[${body}]`;
      i = end;
    } else src += escapeRe(c);
  }
  re = new RegExp(`^${src}$`);
  if (cache.size > 256) cache.clear();
  cache.set(glob, re);
  return re;
}

function escapeRe(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
}
