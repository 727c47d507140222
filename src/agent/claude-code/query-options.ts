// The Agent SDK options of a Claude Code process, split the way a warm spare needs them:
//
// - the *host options* (`hostOptions`): everything Claude Code fixes when its process starts —
//   settings sources, tools, the policy hooks and `canUseTool`, the in-process MCP servers, the
//   environment, the model. They depend only on the run's *shape* (`RunShape`: model, tool policy,
//   the server tools' definitions, the environment), never on the run itself: the hooks, `canUseTool`
//   and the MCP tools act through a `RunBinding` that the engine fills with the run when it starts
//   (and that refuses everything while empty — a parked spare serves nobody);
// - the per-run part: the working directory, the appended system prompt, the conversation id.
//
// A cold start builds both at once (`buildQueryOptions`); a spare gets the host options at
// `prewarm()` and the per-run part at `claim()`. The same functions build both, so what a spare runs
// with is what a cold start of the same shape would — and a spare whose shape differs from the
// run's is not used (./spares.ts).
import type { CanUseTool, HookCallback, Options, PermissionResult } from '@anthropic-ai/claude-agent-sdk';
import type { Logger } from '../../observability/logger.ts';
import type { Tool } from '../../tools/types.ts';
import type { EngineRunContext } from '../engine.ts';
import { type BridgeContext, createServerToolsMcp } from './mcp-bridge.ts';
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
 * How long Claude Code waits for the PreToolUse hook: a call held for an approval waits up to the
 * session's approval timeout (the gate itself denies it then), which may be up to 7 days; the same
 * for every run, so a spare's hooks — fixed before its run is known — are those of a cold start.
 */
export const PRE_TOOL_HOOK_TIMEOUT_S = Math.ceil((7 * 24 * 3600_000) / 1000) + 60; // Policy.approvalTimeoutMs max

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

/** The system prompt appended to Claude Code's preset: the server's, then the session's own. */
export function appendedPrompt(policy: ToolPolicy, sessionPrompt: string | undefined): string {
  const prompt = serverPrompt(policy.serverTools);
  return sessionPrompt?.trim() ? `${prompt}\n\n${sessionPrompt.trim()}` : prompt;
}

/** Default server tools: Claude Code brings its own shell and file tools. */
function defaultServerTools(ctx: Pick<EngineRunContext, 'tools'>): Tool[] {
  return ctx.tools.filter((t) => t.name !== 'bash' && t.name !== 'fs');
}

/** Everything the host options depend on. Two runs of one shape get the same Claude Code process set-up. */
export interface RunShape {
  model: string;
  policy: ToolPolicy;
  /** The server tools bridged into Claude Code (their definitions; calls go to the run's own). */
  serverTools: readonly Tool[];
  /** Names, descriptions and schemas of `serverTools`, as one comparable string. */
  toolsKey: string;
  /** The environment of the processes the run starts (HOME, PATH, …: the workspace preparer's). */
  env: Readonly<Record<string, string>>;
}

const schemaIds = new WeakMap<object, number>();
let nextSchemaId = 0;
/** A zod schema's identity (the tools' schemas are module constants) or, failing that, its JSON Schema. */
function schemaKey(t: Tool): unknown {
  if (t.jsonSchema) return t.jsonSchema;
  let id = schemaIds.get(t.input);
  if (id === undefined) {
    id = nextSchemaId++;
    schemaIds.set(t.input, id);
  }
  return `#${id}`;
}

/** The shape of a run with `tools`, `env` and `model` (`ctx` only for the engine's `policyFor`). */
export function runShape(
  opts: ClaudeCodeEngineOptions,
  settings: PolicySettings,
  run: Pick<EngineRunContext, 'tools' | 'env'> & { model: string; ctx?: EngineRunContext },
): RunShape {
  const serverTools = (opts.serverTools ?? defaultServerTools)(run.ctx ?? (run as EngineRunContext));
  const override = (run.ctx && opts.policyFor?.(run.ctx)) || {};
  const own = serverTools.filter((t) => t.kind !== 'mcp');
  const base = buildPolicy(
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
  const bridged = policy.serverTools.length > 0 ? serverTools : [];
  const toolsKey = JSON.stringify(
    bridged.map((t) => [t.name, t.description, t.kind ?? '', t.mcp ?? null, schemaKey(t)]),
  );
  return { model: run.model, policy, serverTools: bridged, toolsKey, env: { ...run.env } };
}

function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

/** Why a process started for shape `a` cannot serve a run of shape `b`, or null when it can. */
export function shapeMismatch(a: RunShape, b: RunShape): string | null {
  if (a.model !== b.model) return 'model';
  if (JSON.stringify(a.policy) !== JSON.stringify(b.policy)) return 'tool policy';
  if (a.toolsKey !== b.toolsKey) return 'server tools';
  if (!sameRecord(a.env, b.env)) return 'environment';
  return null;
}

/** The run a Claude Code process serves, as its hooks, `canUseTool` and MCP tools see it. */
export interface BoundRun {
  ctx: EngineRunContext;
  /** The workspace, resolved (the CLI's cwd). */
  workspace: string;
  policy: ToolPolicy;
  log: Logger;
  /** Collects the metadata server tools report. */
  toolMeta: Array<Record<string, unknown>>;
  /** The run's own server tools by name (audited, quota-wrapped): what a bridged call executes. */
  tools: ReadonlyMap<string, Tool>;
  /** Tool calls already recorded as finished (denied ones). */
  audited: Set<string>;
}

/** Filled with the run when it starts, emptied when it ends; empty, every tool call is refused. */
export class RunBinding {
  current: BoundRun | undefined;
}

const UNBOUND = 'This Claude Code process is not serving a run: tool calls are refused.';

/** Binds `ctx` (with its shape's policy) to `binding`. */
export function bindRun(
  binding: RunBinding,
  opts: ClaudeCodeEngineOptions,
  a: {
    ctx: EngineRunContext;
    shape: RunShape;
    workspace: string;
    log: Logger;
    toolMeta: BoundRun['toolMeta'];
  },
): void {
  const runTools = (opts.serverTools ?? defaultServerTools)(a.ctx);
  binding.current = {
    ctx: a.ctx,
    workspace: a.workspace,
    policy: a.shape.policy,
    log: a.log,
    toolMeta: a.toolMeta,
    tools: new Map(runTools.map((t) => [t.name, t])),
    audited: new Set(),
  };
}

function bridgeContextOf(run: BoundRun, outputLimit: number): BridgeContext {
  const { ctx } = run;
  return {
    workspace: run.workspace,
    runId: ctx.runId,
    sessionId: ctx.sessionId,
    env: ctx.env,
    signal: ctx.signal,
    ...(ctx.scope ? { scope: ctx.scope } : {}),
    ...(ctx.origin ? { origin: ctx.origin } : {}),
    emit: ctx.emit,
    outputLimit,
    onMeta: (m) => run.toolMeta.push(m),
  };
}

export interface HostOptionsArgs {
  opts: ClaudeCodeEngineOptions;
  shape: RunShape;
  binding: RunBinding;
  /** The CLI's whole environment (./process.ts buildCliEnv). */
  cliEnv: Record<string, string>;
  controller: AbortController;
}

/** What Claude Code fixes at start-up, for every run of `shape` (the engine adds its own spawner). */
export function hostOptions(a: HostOptionsArgs): Options {
  const { opts, shape, binding, cliEnv, controller } = a;
  const { config } = opts;
  const { policy } = shape;
  const audit = (run: BoundRun, e: Omit<ToolAuditEvent, 'runId' | 'sessionId'>) => {
    try {
      opts.onToolEvent?.({ ...e, runId: run.ctx.runId, sessionId: run.ctx.sessionId });
    } catch (err) {
      run.log.warn('claude-code: onToolEvent failed', { err });
    }
  };
  const decide = (run: BoundRun, name: string, input: unknown) =>
    checkToolUse(
      run.policy,
      run.workspace,
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
      binding.current?.log.error('claude-code: tool policy failed; the call is refused', { err });
      return deny('the server could not check this tool call against its policy; it is refused');
    }
  };
  const judgeToolUse: HookCallback = async (input, toolUseId) => {
    if (input.hook_event_name !== 'PreToolUse') return {};
    const run = binding.current;
    if (!run) return deny(UNBOUND);
    const policyDecision = await decide(run, input.tool_name, input.tool_input);
    const id = toolUseId ?? input.tool_use_id;
    audit(run, { phase: 'pre', tool: input.tool_name, input: input.tool_input });
    // The approval gate comes after the policy (a refused call is not worth a person's time), and
    // here rather than in canUseTool: Claude Code skips canUseTool for calls it deems safe.
    const approvals = run.ctx.approvals;
    const decision: PolicyDecision =
      policyDecision.allow && approvals
        ? await approvals
            .check({ toolUseId: id, name: input.tool_name, input: input.tool_input })
            .then((v) => (v.allow ? policyDecision : { allow: false, reason: v.message }))
        : policyDecision;
    if (decision.allow) return {};
    run.audited.add(id);
    audit(run, {
      phase: 'post',
      tool: input.tool_name,
      input: input.tool_input,
      isError: true,
      durationMs: 0,
    });
    run.log.info('claude-code: tool call denied', { tool: input.tool_name, reason: decision.reason });
    return deny(decision.reason);
  };
  const postToolUse: HookCallback = async (input, toolUseId) => {
    if (input.hook_event_name !== 'PostToolUse' && input.hook_event_name !== 'PostToolUseFailure') return {};
    const run = binding.current;
    if (!run) return {};
    const id = toolUseId ?? input.tool_use_id;
    if (run.audited.has(id)) return {};
    run.audited.add(id);
    audit(run, {
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
    const run = binding.current;
    if (!run) return { behavior: 'deny', message: UNBOUND };
    const decision = await decide(run, name, input).catch((err: unknown) => {
      run.log.error('claude-code: tool policy failed; the call is refused', { err });
      return {
        allow: false as const,
        reason: 'the server could not check this tool call against its policy',
      };
    });
    return decision.allow
      ? { behavior: 'allow', updatedInput: input }
      : { behavior: 'deny', message: decision.reason };
  };

  const mcp =
    shape.serverTools.length > 0
      ? createServerToolsMcp(shape.serverTools, (name) => {
          const run = binding.current;
          const tool = run?.tools.get(name);
          return run && tool ? { tool, ctx: bridgeContextOf(run, config.toolOutputLimit) } : undefined;
        })
      : undefined;

  const options: Options = {
    model: shape.model,
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
      // Code's default hook timeout is far shorter); the same timeout for every run, so a spare's
      // hooks — fixed before its run is known — are those of a cold start.
      PreToolUse: [{ hooks: [preToolUse], timeout: PRE_TOOL_HOOK_TIMEOUT_S, onFailure: 'block' }],
      PostToolUse: [{ hooks: [postToolUse] }],
      PostToolUseFailure: [{ hooks: [postToolUse] }],
    },
    // The session's own prompt is appended per run (the claim's appendSystemPrompt, or below).
    systemPrompt: { type: 'preset', preset: 'claude_code', append: appendedPrompt(policy, undefined) },
    env: cliEnv,
    persistSession: true,
  };
  if (mcp && Object.keys(mcp).length > 0) options.mcpServers = mcp;
  if (opts.pathToClaudeCodeExecutable) options.pathToClaudeCodeExecutable = opts.pathToClaudeCodeExecutable;
  return options;
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
  /** Where the run is bound (default: a new binding, bound at once). */
  binding?: RunBinding;
}

/** A cold start's options: the host options of the run's shape, bound to the run, plus the per-run part. */
export function buildQueryOptions(a: QueryOptionsArgs): Options {
  const shape = runShape(a.opts, a.settings, {
    tools: a.ctx.tools,
    env: a.ctx.env,
    model: a.model,
    ctx: a.ctx,
  });
  const binding = a.binding ?? new RunBinding();
  bindRun(binding, a.opts, { ctx: a.ctx, shape, workspace: a.workspace, log: a.log, toolMeta: a.toolMeta });
  const options = hostOptions({ opts: a.opts, shape, binding, cliEnv: a.cliEnv, controller: a.controller });
  options.cwd = a.workspace;
  options.systemPrompt = {
    type: 'preset',
    preset: 'claude_code',
    append: appendedPrompt(shape.policy, a.ctx.systemPrompt),
  };
  if (a.resume) options.resume = a.resume;
  else options.sessionId = a.claudeSessionId;
  return options;
}
