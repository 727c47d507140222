// The Agent SDK `query()` options of one run: server tools over MCP, the tool policy with its audit
// hooks, the system prompt, and the settings that keep the workspace's own configuration out.
import type { CanUseTool, HookCallback, Options, PermissionResult } from '@anthropic-ai/claude-agent-sdk';
import type { Logger } from '../../observability/logger.ts';
import type { Tool } from '../../tools/types.ts';
import type { EngineRunContext } from '../engine.ts';
import { createServerToolsMcp } from './mcp-bridge.ts';
import {
  buildPolicy,
  builtinToolsFor,
  checkToolUse,
  type PolicyDecision,
  type PolicySettings,
  type ToolPolicy,
} from './policy.ts';
import type { ClaudeCodeEngineOptions, ToolAuditEvent } from './types.ts';

const SERVER_PROMPT = [
  'You are duyetbot, an autonomous coding agent running on a server, unattended.',
  'Work only inside the current working directory (the workspace, usually a git repository); file access outside it is refused.',
  'Nobody can answer questions while you work: make reasonable decisions yourself, verify your changes (run the tests), and finish with a short summary of what you did and what is left.',
].join('\n');

/**
 * The prompt, with what the model cannot find out except by failing: its Bash has no network (only
 * the LLM proxy and allowlisted hosts) and never the GitHub credentials, so pushes, fetches and pull
 * requests go through the server's tools (the Bash shims in src/tools/command-shims.ts say the same).
 */
export function serverPrompt(serverTools: readonly string[]): string {
  const git = serverTools.includes('mcp__server__git');
  const gh = serverTools.includes('mcp__server__gh');
  const lines = [SERVER_PROMPT];
  if (git || gh) {
    const parts: string[] = [];
    if (git) parts.push('clone, pull and push with the mcp__server__git tool (operations clone, pull, push)');
    if (gh)
      parts.push(
        'open pull requests and comment with the mcp__server__gh tool (the gh CLI is not installed)',
      );
    lines.push(
      `Your Bash commands have no network access and no GitHub credentials: ${parts.join('; ')}. ` +
        'The server runs these with network and credentials; `git push`, `git clone` or `gh` in Bash will fail. ' +
        'Commit with Bash or the git tool as you like.',
    );
  }
  if (serverTools.some((t) => !t.startsWith('mcp__server__')))
    lines.push('Other mcp__<server>__<tool> tools belong to MCP servers the operator configured.');
  return lines.join('\n');
}

/** Default server tools: Claude Code brings its own shell and file tools. */
function defaultServerTools(ctx: EngineRunContext): Tool[] {
  return ctx.tools.filter((t) => t.name !== 'bash' && t.name !== 'fs');
}

export interface QueryOptionsArgs {
  opts: ClaudeCodeEngineOptions;
  settings: PolicySettings;
  ctx: EngineRunContext;
  /** The workspace, resolved (the CLI's cwd). */
  workspace: string;
  model: string;
  log: Logger;
  /** The conversation to resume; undefined starts a fresh one with `claudeSessionId`. */
  resume: string | undefined;
  claudeSessionId: string;
  cliEnv: Record<string, string>;
  controller: AbortController;
  /** Collects the metadata server tools report. */
  toolMeta: Array<Record<string, unknown>>;
}

/** The run's query options (the engine adds its own `spawnClaudeCodeProcess`). */
export function buildQueryOptions(a: QueryOptionsArgs): Options {
  const { opts, settings, ctx, workspace, log, toolMeta, controller, cliEnv, claudeSessionId } = a;
  const { config } = opts;
  const serverTools = (opts.serverTools ?? defaultServerTools)(ctx);
  const override = opts.policyFor?.(ctx) ?? {};
  const own = serverTools.filter((t) => t.kind !== 'mcp');
  const base: ToolPolicy = buildPolicy(
    settings,
    own.map((t) => t.name),
    override,
  );
  // Configured MCP servers' tools keep their own names (mcp__<server>__<tool>), as in native.
  const policy: ToolPolicy =
    override.serverTools === false
      ? base
      : {
          ...base,
          serverTools: [
            ...base.serverTools,
            ...serverTools.filter((t) => t.kind === 'mcp').map((t) => t.name),
          ],
        };
  const mcp =
    policy.serverTools.length > 0
      ? createServerToolsMcp(serverTools, {
          workspace,
          runId: ctx.runId,
          sessionId: ctx.sessionId,
          env: ctx.env,
          signal: ctx.signal,
          ...(ctx.scope ? { scope: ctx.scope } : {}),
          ...(ctx.origin ? { origin: ctx.origin } : {}),
          emit: ctx.emit,
          outputLimit: config.toolOutputLimit,
          onMeta: (m) => toolMeta.push(m),
        })
      : undefined;

  // --- policy + audit hooks ------------------------------------------------------------
  const audited = new Set<string>();
  const audit = (e: Omit<ToolAuditEvent, 'runId' | 'sessionId'>) => {
    try {
      opts.onToolEvent?.({ ...e, runId: ctx.runId, sessionId: ctx.sessionId });
    } catch (err) {
      log.warn('claude-code: onToolEvent failed', { err });
    }
  };
  const decide = (name: string, input: unknown) =>
    checkToolUse(
      policy,
      workspace,
      name,
      typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {},
    );

  const deny = (reason: string) => ({
    hookSpecificOutput: {
      hookEventName: 'PreToolUse' as const,
      permissionDecision: 'deny' as const,
      permissionDecisionReason: reason,
    },
  });
  // Fail closed: a policy (or gate) that throws refuses the call instead of letting it through.
  const preToolUse: HookCallback = async (input, toolUseId, options) => {
    try {
      return await judgeToolUse(input, toolUseId, options);
    } catch (err) {
      log.error('claude-code: tool policy failed; the call is refused', { err });
      return deny('the server could not check this tool call against its policy; it is refused');
    }
  };
  const judgeToolUse: HookCallback = async (input, toolUseId) => {
    if (input.hook_event_name !== 'PreToolUse') return {};
    const policy = await decide(input.tool_name, input.tool_input);
    const id = toolUseId ?? input.tool_use_id;
    audit({ phase: 'pre', tool: input.tool_name, input: input.tool_input });
    // The approval gate comes after the policy (a refused call is not worth a person's time), and
    // here rather than in canUseTool: Claude Code skips canUseTool for calls it deems safe.
    const decision: PolicyDecision =
      policy.allow && ctx.approvals
        ? await ctx.approvals
            .check({ toolUseId: id, name: input.tool_name, input: input.tool_input })
            .then((v) => (v.allow ? policy : { allow: false, reason: v.message }))
        : policy;
    if (decision.allow) return {};
    audited.add(id);
    audit({ phase: 'post', tool: input.tool_name, input: input.tool_input, isError: true, durationMs: 0 });
    log.info('claude-code: tool call denied', { tool: input.tool_name, reason: decision.reason });
    return deny(decision.reason);
  };
  const postToolUse: HookCallback = async (input, toolUseId) => {
    if (input.hook_event_name !== 'PostToolUse' && input.hook_event_name !== 'PostToolUseFailure') return {};
    const id = toolUseId ?? input.tool_use_id;
    if (audited.has(id)) return {};
    audited.add(id);
    audit({
      phase: 'post',
      tool: input.tool_name,
      input: input.tool_input,
      isError: input.hook_event_name === 'PostToolUseFailure',
      durationMs: input.duration_ms,
    });
    return {};
  };
  // Second line of the same policy, for the calls Claude Code asks permission for.
  const canUseTool: CanUseTool = async (name, input): Promise<PermissionResult> => {
    const decision = await decide(name, input).catch((err: unknown) => {
      log.error('claude-code: tool policy failed; the call is refused', { err });
      return {
        allow: false as const,
        reason: 'the server could not check this tool call against its policy',
      };
    });
    return decision.allow
      ? { behavior: 'allow', updatedInput: input }
      : { behavior: 'deny', message: decision.reason };
  };

  const prompt = serverPrompt(policy.serverTools);
  const append = ctx.systemPrompt?.trim() ? `${prompt}\n\n${ctx.systemPrompt.trim()}` : prompt;
  const options: Options = {
    cwd: workspace,
    model: a.model,
    includePartialMessages: true,
    abortController: controller,
    maxTurns: config.maxTurns,
    permissionMode: 'default',
    // Deliberately empty: Claude Code must not load user/project/local settings, CLAUDE.md files,
    // hooks or permission rules from the workspace (an untrusted repository) or from any
    // ~/.claude; everything it runs with comes from the server's configuration, here.
    settingSources: [],
    // Likewise only the MCP servers given here (no .mcp.json from the repository).
    strictMcpConfig: true,
    // (Only in-process servers today; stdio/HTTP ones would go over stdin, not the command line.)
    mcpServersDelivery: 'initialize',
    tools: builtinToolsFor(policy),
    disallowedTools: [...policy.deniedTools],
    canUseTool,
    hooks: {
      // The policy hook fails closed: a hook that fails or times out blocks the call, never lets
      // it through. A call waiting for approval holds its hook up to the approval timeout (Claude
      // Code's default hook timeout is far shorter).
      PreToolUse: [
        ctx.approvals
          ? {
              hooks: [preToolUse],
              timeout: Math.ceil(ctx.approvals.timeoutMs / 1000) + 60,
              onFailure: 'block',
            }
          : { hooks: [preToolUse], onFailure: 'block' },
      ],
      PostToolUse: [{ hooks: [postToolUse] }],
      PostToolUseFailure: [{ hooks: [postToolUse] }],
    },
    systemPrompt: { type: 'preset', preset: 'claude_code', append },
    env: cliEnv,
    persistSession: true,
  };
  if (mcp && Object.keys(mcp).length > 0) options.mcpServers = mcp;
  if (a.resume) options.resume = a.resume;
  else options.sessionId = claudeSessionId;
  if (opts.pathToClaudeCodeExecutable) options.pathToClaudeCodeExecutable = opts.pathToClaudeCodeExecutable;
  return options;
}
