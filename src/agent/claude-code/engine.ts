// The `claude-code` engine: each run drives the Claude Code CLI through the Claude Agent SDK
// (`query()` with streaming input), one CLI process per active run.
//
// - Conversation state lives in Claude Code's transcript under a per-session CLAUDE_CONFIG_DIR
//   (`<dataDir>/claude/<sessionId>`); the next run passes `resume` (see ./session-store.ts).
// - Tools: Claude Code's own (Read, Edit, Bash, …) under ./policy.ts, plus the server's tools
//   (git, gh, MCP) through an in-process MCP server (./mcp-bridge.ts).
// - Messages → events and the run's outcome: ./messages.ts. CLI process env/stderr/sandbox:
//   ./process.ts. The cap on concurrent CLI processes: ./process-pool.ts.
import { promises as fsp } from 'node:fs';
import {
  type CanUseTool,
  type HookCallback,
  type Options,
  type PermissionResult,
  type Query,
  query,
  type SDKUserMessage,
} from '@anthropic-ai/claude-agent-sdk';
import type { Config } from '../../config.ts';
import type { Logger } from '../../observability/logger.ts';
import type { SandboxWrapper } from '../../sandbox/types.ts';
import type { Tool } from '../../tools/types.ts';
import { type Engine, EngineError, type EngineResult, type EngineRunContext } from '../engine.ts';
import { createServerToolsMcp } from './mcp-bridge.ts';
import { interpretResult, type Outcome, RunMapper, seedPrompt } from './messages.ts';
import {
  buildPolicy,
  builtinToolsFor,
  checkToolUse,
  type PolicyOverride,
  type PolicySettings,
  policySettingsFromEnv,
  type ToolPolicy,
} from './policy.ts';
import { buildCliEnv, cliSpawner, lineSplitter, TailLines } from './process.ts';
import { ProcessSlots, type SlotStats } from './process-pool.ts';
import {
  claudeConfigDir,
  ensureConfigDir,
  isClaudeSessionId,
  newClaudeSessionId,
  readStoredSessionId,
  transcriptExists,
  writeStoredSessionId,
} from './session-store.ts';

export interface ToolAuditEvent {
  phase: 'pre' | 'post';
  runId: string;
  sessionId: string;
  tool: string;
  input: unknown;
  isError?: boolean;
  durationMs?: number;
}

export interface LlmAccess {
  baseUrl: string;
  apiKey: string;
  release(): void;
}

export interface ClaudeCodeEngineOptions {
  config: Config;
  logger: Logger;
  /** Runs the CLI inside this sandbox when its kind is not 'none'. */
  sandbox?: SandboxWrapper;
  /** The server's tools bridged as `mcp__server__<name>` (default: ctx.tools minus bash/fs, which Claude Code has itself). */
  serverTools?: (ctx: EngineRunContext) => Tool[];
  /** LLM endpoint and credentials per run (e.g. a per-run proxy token); default config.anthropicBaseUrl/ApiKey. */
  llmAccess?: (runId: string) => Promise<LlmAccess>;
  /** Audit/metrics hook: PreToolUse / PostToolUse of every tool call. */
  onToolEvent?: (e: ToolAuditEvent) => void;
  /** Policy settings (default: CLAUDE_ALLOW_TOOLS / CLAUDE_DENY_TOOLS from process.env). */
  policySettings?: PolicySettings;
  /** Per-run narrowing of the tool policy (e.g. read-only tools for analysis workflows). */
  policyFor?: (ctx: EngineRunContext) => PolicyOverride | undefined;
  /** How long an interrupted CLI gets to stop before it is killed (default 2000 ms). */
  interruptGraceMs?: number;
  /** Path of the Claude Code executable (default: the one bundled with the SDK). */
  pathToClaudeCodeExecutable?: string;
  /** Called with the CLI's pid when it starts (metrics, tests, benchmarks). */
  onSpawn?: (pid: number | undefined) => void;
}

export interface ClaudeCodeEngine extends Engine {
  readonly name: 'claude-code';
  /** CLI process slots: capacity, in use, waiting runs. */
  stats(): SlotStats;
}

/** How long a finished CLI gets to exit after its input ends before it is killed. */
const CLOSE_GRACE_MS = 5000;

const SERVER_PROMPT = [
  'You are duyetbot, an autonomous coding agent running on a server, unattended.',
  'Work only inside the current working directory (the workspace, usually a git repository); file access outside it is refused.',
  'Nobody can answer questions while you work: make reasonable decisions yourself, verify your changes (run the tests), and finish with a short summary of what you did and what is left.',
].join('\n');

function abortedError(usage?: EngineError['usage']): EngineError {
  return new EngineError('aborted', 'run interrupted', usage);
}

/** Default server tools: Claude Code brings its own shell and file tools. */
function defaultServerTools(ctx: EngineRunContext): Tool[] {
  return ctx.tools.filter((t) => t.name !== 'bash' && t.name !== 'fs');
}

export function createClaudeCodeEngine(opts: ClaudeCodeEngineOptions): ClaudeCodeEngine {
  const { config, logger } = opts;
  const slots = new ProcessSlots(config.claudeMaxProcesses);
  const settings = opts.policySettings ?? policySettingsFromEnv();
  const active = new Set<{ stop: () => void; done: Promise<unknown> }>();
  let closed = false;

  async function run(ctx: EngineRunContext): Promise<EngineResult> {
    if (closed) throw new EngineError('engine_closed', 'the claude-code engine is shutting down');
    if (!opts.llmAccess && !config.anthropicApiKey) {
      throw new EngineError(
        'missing_api_key',
        'ANTHROPIC_API_KEY is not set: the claude-code engine cannot call the LLM',
      );
    }
    if (ctx.signal.aborted) throw abortedError();
    const { capacity } = slots.stats();
    let release: () => void;
    try {
      release = await slots.acquire(ctx.signal, (position) => {
        ctx.emit({
          type: 'session.notice',
          data: {
            message: `Waiting for a Claude Code slot: all ${capacity} are in use (position ${position} in the queue).`,
          },
        });
      });
    } catch {
      throw abortedError();
    }
    let access: LlmAccess | undefined;
    try {
      access = opts.llmAccess
        ? await opts.llmAccess(ctx.runId)
        : { baseUrl: config.anthropicBaseUrl, apiKey: config.anthropicApiKey ?? '', release() {} };
      return await runInSlot(ctx, access);
    } finally {
      try {
        access?.release();
      } finally {
        release();
      }
    }
  }

  async function runInSlot(ctx: EngineRunContext, access: LlmAccess): Promise<EngineResult> {
    const workspace = await fsp.realpath(ctx.workspace);
    // Under the session's HOME when there is one: that directory is what a sandboxed CLI can write
    // (DATA_DIR itself is hidden from it), and it is removed with the session.
    const configDir = claudeConfigDir(ctx.env.HOME ?? config.dataDir, ctx.sessionId);
    await ensureConfigDir(configDir);
    const model = ctx.model || config.model;
    const log = logger.child({ engine: 'claude-code', runId: ctx.runId, sessionId: ctx.sessionId });

    // The conversation to resume: the engineState's (the scheduler's record), else the one this
    // engine recorded in the config dir (a run that failed before returning engineState).
    const stateId = ctx.engineState.claudeSessionId;
    const candidates = [
      isClaudeSessionId(stateId) ? stateId : undefined,
      await readStoredSessionId(configDir),
    ].filter((id, i, all): id is string => id !== undefined && all.indexOf(id) === i);
    let previous: string | undefined;
    for (const id of candidates) {
      if (await transcriptExists(configDir, id)) {
        previous = id;
        break;
      }
    }
    const canResume = previous !== undefined;
    const seeded = () => seedPrompt(ctx.history, ctx.input);
    if (candidates.length > 0 && !canResume) {
      ctx.emit({ type: 'session.notice', data: { message: transcriptLostNotice(ctx.history.length) } });
    }

    const base = { ctx, access, workspace, configDir, model, log };
    let attempt = await runQuery({
      ...base,
      resume: canResume ? previous : undefined,
      prompt: canResume ? ctx.input : seeded(),
    });
    if (attempt.kind === 'resume_missing') {
      log.warn('claude-code: resume failed (transcript missing); starting a fresh conversation', {
        previous,
      });
      ctx.emit({ type: 'session.notice', data: { message: transcriptLostNotice(ctx.history.length) } });
      attempt = await runQuery({ ...base, resume: undefined, prompt: seeded() });
    }
    if (attempt.kind === 'resume_missing') {
      throw new EngineError('engine_error', 'Claude Code could not start a conversation');
    }
    return attempt.result;
  }

  interface QueryArgs {
    ctx: EngineRunContext;
    access: LlmAccess;
    workspace: string;
    configDir: string;
    model: string;
    log: Logger;
    resume: string | undefined;
    prompt: string;
  }

  async function runQuery(
    a: QueryArgs,
  ): Promise<{ kind: 'done'; result: EngineResult } | { kind: 'resume_missing' }> {
    const { ctx, workspace, log } = a;
    if (ctx.signal.aborted) throw abortedError();
    const mapper = new RunMapper({ emit: ctx.emit, outputLimit: config.toolOutputLimit });
    mapper.addUserInput(ctx.input);
    const toolMeta: Array<Record<string, unknown>> = [];

    // Fresh conversations get their id up front, recorded before the CLI starts: a run that
    // fails before returning engineState (interrupt, crash) is still resumed next time.
    const claudeSessionId = a.resume ?? newClaudeSessionId();
    await writeStoredSessionId(a.configDir, claudeSessionId);

    const serverTools = (opts.serverTools ?? defaultServerTools)(ctx);
    const policy: ToolPolicy = buildPolicy(
      settings,
      serverTools.map((t) => t.name),
      opts.policyFor?.(ctx) ?? {},
    );
    const mcp =
      policy.serverTools.length > 0
        ? createServerToolsMcp(serverTools, {
            workspace,
            runId: ctx.runId,
            sessionId: ctx.sessionId,
            env: ctx.env,
            signal: ctx.signal,
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

    const preToolUse: HookCallback = async (input, toolUseId) => {
      if (input.hook_event_name !== 'PreToolUse') return {};
      const decision = await decide(input.tool_name, input.tool_input);
      const id = toolUseId ?? input.tool_use_id;
      audit({ phase: 'pre', tool: input.tool_name, input: input.tool_input });
      if (decision.allow) return {};
      audited.add(id);
      audit({ phase: 'post', tool: input.tool_name, input: input.tool_input, isError: true, durationMs: 0 });
      log.info('claude-code: tool call denied by policy', { tool: input.tool_name, reason: decision.reason });
      return {
        hookSpecificOutput: {
          hookEventName: 'PreToolUse',
          permissionDecision: 'deny',
          permissionDecisionReason: decision.reason,
        },
      };
    };
    const postToolUse: HookCallback = async (input, toolUseId) => {
      if (input.hook_event_name !== 'PostToolUse' && input.hook_event_name !== 'PostToolUseFailure')
        return {};
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
      const decision = await decide(name, input);
      return decision.allow
        ? { behavior: 'allow', updatedInput: input }
        : { behavior: 'deny', message: decision.reason };
    };

    // --- the CLI process -----------------------------------------------------------------
    const cliEnv = buildCliEnv(ctx.env, a.access, a.configDir);
    const stderrTail = new TailLines(20);
    const stderr = lineSplitter((line) => {
      stderrTail.push(line);
      log.info('claude-code stderr', { line });
    });
    const controller = new AbortController();
    let endInput: () => void = () => {};
    const inputDone = new Promise<void>((resolve) => {
      endInput = resolve;
    });
    const prompt = a.prompt;
    async function* input(): AsyncGenerator<SDKUserMessage> {
      yield { type: 'user', message: { role: 'user', content: prompt }, parent_tool_use_id: null };
      await inputDone;
    }

    const append = ctx.systemPrompt?.trim()
      ? `${SERVER_PROMPT}\n\n${ctx.systemPrompt.trim()}`
      : SERVER_PROMPT;
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
        PreToolUse: [{ hooks: [preToolUse] }],
        PostToolUse: [{ hooks: [postToolUse] }],
        PostToolUseFailure: [{ hooks: [postToolUse] }],
      },
      systemPrompt: { type: 'preset', preset: 'claude_code', append },
      env: cliEnv,
      persistSession: true,
    };
    if (mcp) options.mcpServers = { [mcp.name]: mcp };
    if (a.resume) options.resume = a.resume;
    else options.sessionId = claudeSessionId;
    if (opts.pathToClaudeCodeExecutable) options.pathToClaudeCodeExecutable = opts.pathToClaudeCodeExecutable;
    const spawner = cliSpawner({
      sandbox: opts.sandbox,
      workspace,
      cliEnv,
      onStderr: (chunk) => stderr.push(chunk),
      onSpawn: opts.onSpawn,
    });
    // The engine starts the CLI itself (own process group, reaped at the end, stderr to the log,
    // optionally inside the sandbox): the SDK's `stderr` option does not apply to such a process.
    options.spawnClaudeCodeProcess = (o) => spawner.spawn(o);

    let q: Query | undefined;
    let interrupted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      if (mapper.result) return; // the turn already completed: let the CLI exit normally
      interrupted = true;
      log.info('claude-code: interrupting the run');
      q?.interrupt().catch(() => {});
      killTimer = setTimeout(() => {
        controller.abort();
        spawner.terminate();
      }, opts.interruptGraceMs ?? 2000);
      killTimer.unref?.();
    };

    let thrown: unknown;
    const entry = {
      // engine.close(): stop at once (the scheduler re-queues runs it stops on shutdown)
      stop: () => {
        interrupted = true;
        controller.abort();
        spawner.terminate();
      },
      done: Promise.resolve() as Promise<unknown>,
    };
    const consume = async () => {
      const cli = query({ prompt: input(), options });
      q = cli;
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
      let closeTimer: NodeJS.Timeout | undefined;
      try {
        for await (const m of cli) {
          mapper.handle(m);
          if (mapper.authFailure && !controller.signal.aborted) {
            // Claude Code retries a 401 for minutes; the credentials will not get better.
            controller.abort();
            spawner.terminate();
          }
          if (m.type === 'result' && !closeTimer) {
            // The turn is complete: end the input so the CLI exits; kill it if it lingers.
            endInput();
            closeTimer = setTimeout(() => {
              controller.abort();
              spawner.terminate();
            }, CLOSE_GRACE_MS);
            closeTimer.unref?.();
          }
        }
      } catch (err) {
        thrown = err;
      } finally {
        endInput();
        clearTimeout(closeTimer);
        clearTimeout(killTimer);
        ctx.signal.removeEventListener('abort', onAbort);
        cli.close();
        await spawner.reap(CLOSE_GRACE_MS);
        stderr.flush();
      }
    };
    entry.done = consume();
    active.add(entry);
    try {
      await entry.done;
    } finally {
      active.delete(entry);
    }

    const sessionId = mapper.claudeSessionId ?? claudeSessionId;
    if (sessionId !== claudeSessionId) await writeStoredSessionId(a.configDir, sessionId).catch(() => {});

    const r = mapper.result;
    const outcome: Outcome | undefined = r
      ? interpretResult(r, { model: a.model, resumed: a.resume !== undefined, mapper })
      : undefined;
    const usage =
      outcome?.kind === 'ok' ? outcome.usage : outcome?.kind === 'error' ? outcome.error.usage : undefined;

    if (mapper.authFailure) {
      const status = mapper.authFailure.status ? ` (HTTP ${mapper.authFailure.status})` : '';
      throw new EngineError(
        'llm_auth_error',
        `The LLM API rejected the credentials${status}: check ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL`,
        usage,
      );
    }
    if (interrupted) throw abortedError(usage);
    if (!outcome) {
      const detail =
        thrown instanceof Error ? thrown.message : thrown !== undefined ? String(thrown) : 'no result';
      const tail = stderrTail.toString();
      throw new EngineError(
        'engine_error',
        `Claude Code ended without a result: ${detail}${tail ? `\n${tail}` : ''}`,
      );
    }
    if (outcome.kind === 'resume_missing') return outcome;
    if (outcome.kind === 'error') throw outcome.error;
    return {
      kind: 'done',
      result: {
        stopReason: outcome.stopReason,
        usage: outcome.usage,
        finalText: outcome.finalText || mapper.lastAssistantText,
        messages: mapper.messages,
        engineState: { claudeSessionId: sessionId },
        toolMeta,
      },
    };
  }

  return {
    name: 'claude-code',
    run,
    stats: () => slots.stats(),
    async close() {
      closed = true;
      const running = [...active];
      for (const r of running) r.stop();
      await Promise.allSettled(running.map((r) => r.done));
    },
  };
}

function transcriptLostNotice(historyLength: number): string {
  const seeded = historyLength > 0 ? ' seeded with a summary of the earlier messages' : '';
  return `The Claude Code transcript of this session is not available; continuing in a new conversation${seeded}.`;
}
