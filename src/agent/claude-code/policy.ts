// Tool policy of the claude-code engine: which Claude Code tools a run may use, and that every
// file path a tool call names stays inside the run's workspace.
//
// The server runs as root, where Claude Code refuses `bypassPermissions`; the engine therefore
// runs in `permissionMode: 'default'` and enforces this policy twice: in a PreToolUse hook
// (which fires for EVERY call, including the ones Claude Code would auto-approve, such as reads
// inside the working directory) and in `canUseTool` (which Claude Code consults for the calls it
// would otherwise prompt for). Both call `checkToolUse`.
//
// Everything here is free of side effects except reading the file system to resolve paths
// (symlinks), so it is unit-tested without Claude Code.
import path from 'node:path';
import type { Config } from '../../config.ts';
import { assertNotHardLinked, resolveInWorkspace } from '../../sandbox/workspace/path-guard.ts';
import { ToolError } from '../../tools/types.ts';

/** Name of the in-process MCP server carrying the server's own tools (`mcp__server__git` …). */
export const SERVER_MCP_NAME = 'server';

/**
 * Claude Code built-ins a run may use by default. Names that a Claude Code version does not have
 * (LS, MultiEdit and TodoWrite in 2.1.x; Task is now Agent) are harmless: unknown names are ignored.
 */
export const DEFAULT_ALLOWED_TOOLS: readonly string[] = [
  'Read',
  'Write',
  'Edit',
  'MultiEdit',
  'Glob',
  'Grep',
  'LS',
  'Bash',
  'TodoWrite',
  'NotebookEdit',
  'Task',
];

/** For runs that must not change the workspace (e.g. analysis workflows), via `policyFor`. */
export const READ_ONLY_TOOLS: readonly string[] = ['Read', 'Glob', 'Grep', 'LS', 'TodoWrite', 'Task'];

/** Current names of renamed Claude Code tools (the SDK's LEGACY_TOOL_NAME_ALIASES, the ones that matter here). */
const ALIASES: Readonly<Record<string, string>> = {
  Task: 'Agent',
  KillShell: 'TaskStop',
  KillBash: 'TaskStop',
};

export interface ToolPolicy {
  /** Built-in tools the model may call (legacy and current names are equivalent). */
  allowedTools: readonly string[];
  /** Always refused; wins over `allowedTools` and over server MCP tools. */
  deniedTools: readonly string[];
  /** Full `mcp__server__<name>` names of the server tools bridged into this run. */
  serverTools: readonly string[];
}

export interface PolicySettings {
  /** Extra built-ins to allow (CLAUDE_ALLOW_TOOLS), e.g. WebFetch, WebSearch. */
  allowTools?: readonly string[];
  /** Built-ins or MCP tools to deny (CLAUDE_DENY_TOOLS). */
  denyTools?: readonly string[];
}

/** Per-session/workflow narrowing, from the engine's `policyFor(ctx)`. */
export interface PolicyOverride {
  /** Replaces the default allowlist (settings' allowTools are still added). */
  allowedTools?: readonly string[];
  /** Added to the deny list. */
  deniedTools?: readonly string[];
  /** false: do not expose the server's tools (git, gh, MCP) to this run. */
  serverTools?: boolean;
}

/**
 * The engine's settings from the configuration (src/config.ts):
 * - `CLAUDE_DENY_TOOLS`: tools the claude-code engine never lets the model use
 *   (built-in names such as `Bash`, `Write`, or full MCP names such as `mcp__server__gh`).
 * - `CLAUDE_ALLOW_TOOLS`: extra built-ins to allow beyond the default set
 *   (e.g. `WebFetch,WebSearch`, which are denied by default: they reach the internet).
 */
export function policySettingsOf(
  config: Pick<Config, 'claudeAllowTools' | 'claudeDenyTools'>,
): PolicySettings {
  return { allowTools: [...config.claudeAllowTools], denyTools: [...config.claudeDenyTools] };
}

function uniq(names: Iterable<string>): string[] {
  return [...new Set(names)];
}

export function buildPolicy(
  settings: PolicySettings,
  serverToolNames: readonly string[],
  override: PolicyOverride = {},
): ToolPolicy {
  const base = override.allowedTools ?? DEFAULT_ALLOWED_TOOLS;
  return {
    allowedTools: uniq([...base, ...(settings.allowTools ?? [])]),
    deniedTools: uniq([...(settings.denyTools ?? []), ...(override.deniedTools ?? [])]),
    serverTools:
      override.serverTools === false ? [] : serverToolNames.map((n) => `mcp__${SERVER_MCP_NAME}__${n}`),
  };
}

/** The name and every other name it is known by. */
function namesOf(name: string): string[] {
  const out = [name];
  const current = ALIASES[name];
  if (current) out.push(current);
  for (const [legacy, cur] of Object.entries(ALIASES)) if (cur === name) out.push(legacy);
  return out;
}

function listed(list: readonly string[], name: string): boolean {
  const names = namesOf(name);
  return list.some((n) => names.includes(n));
}

/** Built-in tool names for the SDK's `tools` option: what the model is shown at all. */
export function builtinToolsFor(policy: ToolPolicy): string[] {
  const out: string[] = [];
  for (const n of policy.allowedTools) {
    if (n.startsWith('mcp__') || listed(policy.deniedTools, n)) continue;
    out.push(n);
    const current = ALIASES[n];
    if (current && !out.includes(current)) out.push(current);
  }
  return uniq(out);
}

export type PolicyDecision = { allow: true } | { allow: false; reason: string };

const ALLOW: PolicyDecision = { allow: true };

/** Whether the tool may be used at all (name only). */
export function checkToolName(policy: ToolPolicy, name: string): PolicyDecision {
  if (listed(policy.deniedTools, name)) {
    return { allow: false, reason: `The tool "${name}" is denied by the server's policy.` };
  }
  if (name.startsWith('mcp__')) {
    if (policy.serverTools.includes(name) || policy.allowedTools.includes(name)) return ALLOW;
    return { allow: false, reason: `The MCP tool "${name}" is not available in this session.` };
  }
  if (listed(policy.allowedTools, name)) return ALLOW;
  return {
    allow: false,
    reason: `The tool "${name}" is not allowed by the server's policy for this session.`,
  };
}

/** Input fields that name a file or directory, per tool; any other tool gets the generic set. */
const PATH_KEYS = ['file_path', 'path', 'notebook_path'] as const;
/** Tools that open an existing file's content (a hard link could alias a file outside). */
const FILE_CONTENT_TOOLS = new Set(['Read', 'Write', 'Edit', 'MultiEdit', 'NotebookEdit']);

export interface PathArgument {
  key: string;
  value: string;
}

/** The path-like arguments of a tool call (Glob's pattern only when it carries a directory part). */
export function pathArguments(name: string, input: Record<string, unknown>): PathArgument[] {
  const out: PathArgument[] = [];
  for (const key of PATH_KEYS) {
    const v = input[key];
    if (typeof v === 'string' && v !== '') out.push({ key, value: v });
  }
  if (name === 'Glob' && typeof input.pattern === 'string') {
    const base = typeof input.path === 'string' && input.path !== '' ? input.path : '.';
    const dir = staticPrefix(input.pattern);
    if (dir !== '') out.push({ key: 'pattern', value: path.isAbsolute(dir) ? dir : path.join(base, dir) });
  }
  return out;
}

/** The directory part of a glob before its first wildcard (`../x/*.js` → `../x`; `*.js` → ``). */
export function staticPrefix(pattern: string): string {
  const parts = pattern.split('/');
  const fixed: string[] = [];
  for (const p of parts) {
    if (/[*?[\]{}!]/.test(p)) break;
    fixed.push(p);
  }
  if (fixed.length === parts.length) fixed.pop(); // the last part is a file name, not a directory
  if (fixed.length === 1 && fixed[0] === '') return '/';
  return fixed.join('/');
}

/**
 * Whether a tool call may run: the name must be allowed and every path argument must resolve
 * (following symlinks) inside `workspace`. The reason is shown to the model as the tool's result.
 */
export async function checkToolUse(
  policy: ToolPolicy,
  workspace: string,
  name: string,
  input: Record<string, unknown>,
): Promise<PolicyDecision> {
  const byName = checkToolName(policy, name);
  if (!byName.allow) return byName;
  if (name.startsWith('mcp__')) return ALLOW; // server tools confine their own paths
  for (const arg of pathArguments(name, input)) {
    try {
      const real = await resolveInWorkspace(workspace, arg.value, { allowMissing: true });
      if (FILE_CONTENT_TOOLS.has(name)) await assertNotHardLinked(real);
    } catch (err) {
      const why =
        err instanceof ToolError && err.code === 'path_outside_workspace'
          ? `resolves outside the workspace (${workspace})`
          : `cannot be used: ${err instanceof Error ? err.message : String(err)}`;
      return {
        allow: false,
        reason: `Access denied: "${arg.value}" (${arg.key}) ${why}. Only files inside the workspace may be accessed.`,
      };
    }
  }
  return ALLOW;
}
