// Scripted end-to-end scenarios for the mock Anthropic API (demo, integration tests, benchmarks).
// The bugfix scenario goes with the fixture repository of ./fixtures.ts: read math.js, fix add(),
// run the tests, commit, push, report.
import { scripted, textReply, textsOf, toolCall } from './helpers.ts';
import type { MessagesRequest, MockReply, MockTurn, Responder } from './types.ts';

export const BUGFIX_FINAL_TEXT = 'Fixed the bug in add(), tests pass, and the fix is pushed.';
export const BUGFIX_COMMIT_MESSAGE = 'Fix add() to return the sum';

/** Native engine: tool names and inputs of docs/api.md §9 (paths relative to the workspace). */
export function bugfixScenarioNative(): Responder {
  return scripted([
    toolCall('fs', { operation: 'read', path: 'math.js' }, { text: 'Let me look at the code.' }),
    toolCall('fs', {
      operation: 'edit',
      path: 'math.js',
      oldString: 'return a - b;',
      newString: 'return a + b;',
    }),
    toolCall('bash', { command: 'node test.js' }),
    toolCall('git', { operation: 'commit', message: BUGFIX_COMMIT_MESSAGE, all: true }),
    toolCall('git', { operation: 'push' }),
    textReply(BUGFIX_FINAL_TEXT, { stopReason: 'end_turn' }),
  ]);
}

const WORKDIR =
  /^[ \t-]*(?:Primary working directory|Working directory|Current working directory):[ \t]*(\S[^\n]*?)[ \t]*$/m;

/**
 * The working directory Claude Code announces in its environment section:
 * ` - Primary working directory: /abs/path` (older versions: `Working directory: /abs/path`).
 * It sits in the system prompt (preset `claude_code`), in a `<system-reminder>` text block of the
 * first user message, or in a `role: "system"` message — every place is searched.
 */
export function workingDirectoryOf(req: MessagesRequest): string | undefined {
  const texts = [...textsOf(req.system)];
  for (const m of req.messages) texts.push(...textsOf(m.content));
  for (const t of texts) {
    const m = WORKDIR.exec(t);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

/**
 * Heuristic for Claude Code's side requests (session-title generation, quota probes, topic detection…),
 * which are not part of the agent conversation: the request offers no tools, or asks for a tiny
 * answer (max_tokens ≤ 16). Main-loop requests always carry the tool list (Bash, Read, Edit, …).
 */
export function isClaudeCodeSideRequest(req: MessagesRequest): boolean {
  if (!Array.isArray(req.tools) || req.tools.length === 0) return true;
  return typeof req.max_tokens === 'number' && req.max_tokens <= 16;
}

function sampleFromSchema(schema: unknown, depth = 0): unknown {
  if (typeof schema !== 'object' || schema === null || depth > 8) return null;
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  if ('const' in s) return s.const;
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props = typeof s.properties === 'object' && s.properties !== null ? s.properties : {};
      for (const [k, v] of Object.entries(props)) out[k] = sampleFromSchema(v, depth + 1);
      return out;
    }
    case 'array':
      return [];
    case 'string':
      return 'Mock session';
    case 'number':
    case 'integer':
      return 0;
    case 'boolean':
      return false;
    default:
      return null;
  }
}

/**
 * Short answer to a side request: valid JSON when the request asks for structured output
 * (`output_config.format: {type: "json_schema", schema}` — Claude Code's title generation), else text.
 */
export function claudeCodeSideReply(req: MessagesRequest): MockReply {
  const cfg = req.output_config;
  if (typeof cfg === 'object' && cfg !== null) {
    const format = (cfg as { format?: unknown }).format;
    if (
      typeof format === 'object' &&
      format !== null &&
      (format as { type?: unknown }).type === 'json_schema'
    ) {
      return textReply(JSON.stringify(sampleFromSchema((format as { schema?: unknown }).schema) ?? {}));
    }
  }
  return textReply('Mock session');
}

/** Number of tool_use blocks in the conversation's assistant messages. */
export function toolUseCount(req: MessagesRequest): number {
  let n = 0;
  for (const m of req.messages) {
    if (m.role !== 'assistant' || !Array.isArray(m.content)) continue;
    for (const b of m.content) if (b.type === 'tool_use') n++;
  }
  return n;
}

/**
 * Claude Code engine: the same flow with Claude Code's own tools (`Read`, `Edit`, `Bash`) and absolute
 * paths under the working directory found in the request. Side requests get a short reply and do not
 * advance the script. The position is the number of tool_use blocks so far (every turn but the last
 * has exactly one), not the number of assistant messages: after a mid-stream error Claude Code keeps
 * the partial assistant message and adds a "resume" user message, which must not skip a step.
 */
export interface ClaudeCodeBugfixOptions {
  /**
   * How the fix is pushed: `bash` (`git push` through Claude Code's Bash) or `server-git` (the
   * server's own git tool over the MCP bridge, `mcp__server__git` — the path that works inside the
   * sandbox, where the remote is not visible, and that injects push credentials).
   */
  push?: 'bash' | 'server-git';
}

export function bugfixScenarioClaudeCode(opts: ClaudeCodeBugfixOptions = {}): Responder {
  return (req) => {
    if (isClaudeCodeSideRequest(req)) return claudeCodeSideReply(req);
    const cwd = workingDirectoryOf(req);
    const file = (name: string): string => (cwd ? `${cwd.replace(/\/+$/, '')}/${name}` : name);
    const turns: MockTurn[] = [
      toolCall('Read', { file_path: file('math.js') }, { text: 'Let me look at the code.' }),
      toolCall('Edit', {
        file_path: file('math.js'),
        old_string: 'return a - b;',
        new_string: 'return a + b;',
      }),
      toolCall('Bash', { command: 'node test.js', description: 'Run the tests' }),
      toolCall('Bash', {
        command: `git commit -am '${BUGFIX_COMMIT_MESSAGE}'`,
        description: 'Commit the fix',
      }),
      opts.push === 'server-git'
        ? toolCall('mcp__server__git', { operation: 'push' })
        : toolCall('Bash', { command: 'git push', description: 'Push the fix' }),
      textReply(BUGFIX_FINAL_TEXT, { stopReason: 'end_turn' }),
    ];
    return turns[toolUseCount(req)] ?? textReply('done');
  };
}

export function bugfixScenario(engine: 'native' | 'claude-code'): Responder {
  return engine === 'claude-code' ? bugfixScenarioClaudeCode() : bugfixScenarioNative();
}

/** Echoes the last user text (tool results and `<system-reminder>` blocks skipped); side requests as above. */
export function echoScenario(): Responder {
  return (req) => {
    if (req.output_config !== undefined && isClaudeCodeSideRequest(req)) return claudeCodeSideReply(req);
    for (let i = req.messages.length - 1; i >= 0; i--) {
      const m = req.messages[i];
      if (m?.role !== 'user') continue;
      const texts = textsOf(m.content).filter((t) => !t.trimStart().startsWith('<system-reminder>'));
      if (texts.length > 0) return textReply(`Echo: ${texts.join('\n')}`);
    }
    return textReply('Echo: (nothing)');
  };
}
