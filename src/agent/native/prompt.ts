// The system prompt of the native engine: a short default describing the workspace and the
// tools, followed by the session's own system prompt (which therefore has the last word).
import type { Tool } from '../../tools/types.ts';

export function buildSystemPrompt(tools: readonly Tool[], sessionPrompt?: string): string {
  const toolList = tools.length > 0 ? tools.map((t) => t.name).join(', ') : 'none';
  const has = (name: string) => tools.some((t) => t.name === name);
  const lines = [
    'You are duyetbot, an autonomous coding agent running on a server.',
    'You work inside one workspace directory (usually a git repository); every path you pass to a tool is relative to it and nothing outside it is reachable.',
    `Your tools: ${toolList}. Use them to inspect files before changing them, run commands and tests to check your work, and prefer small, targeted edits.`,
  ];
  // The sandbox's shell has no network and never the GitHub credentials: say so before the model
  // learns it from a failed `git push` (src/tools/command-shims.ts prints the same advice).
  if (has('git') || has('gh'))
    lines.push(
      'Shell commands (bash) have no network access and no GitHub credentials: clone, pull and push only with the git tool' +
        (has('gh')
          ? ', and open pull requests or comment with the gh tool (the gh CLI is not installed)'
          : '') +
        '; the server adds the credentials. `git push` or `gh` in bash will fail.',
    );
  if (tools.some((t) => t.kind === 'mcp'))
    lines.push('Tools named mcp__<server>__<tool> belong to MCP servers the operator configured.');
  lines.push(
    'Independent tool calls may be made in the same turn; they run in parallel.',
    'Nobody watches in real time: do not ask for confirmation, make reasonable decisions yourself. When you are done, end with a short summary of what you did and what is left.',
  );
  const base = lines.join('\n');
  const extra = sessionPrompt?.trim();
  return extra ? `${base}\n\n${extra}` : base;
}
