// The `claude-code` engine: each run drives the Claude Code CLI through the Claude Agent SDK
// (`query()` with streaming input), one CLI process per active run.
//
// - Conversation state lives in Claude Code's transcript under a per-session CLAUDE_CONFIG_DIR
//   (`<dataDir>/claude/<sessionId>`); the next run passes `resume` (see ./session-store.ts).
// - Tools: Claude Code's own (Read, Edit, Bash, …) under ./policy.ts, plus the server's tools
//   (git, gh, MCP) through an in-process MCP server (./mcp-bridge.ts).
// - Messages → events and the run's outcome: ./messages.ts. CLI process env/stderr/sandbox:
//   ./process.ts. The cap on concurrent CLI processes: ./process-pool.ts.
// - The query options (policy hooks, MCP bridge, system prompt): ./query-options.ts. Public types:
//   ./types.ts.
// - Warm spares (CLAUDE_SPARES): a new session's first run may be served by a process started ahead
//   in the sandbox (./spare.ts, ./spares.ts): same host options as a cold start of that run, its
//   proxy token activated and the run bound before the claim; anything that does not fit (another
//   shape, a refused claim, a spare that died) falls back to a cold start in the same workspace.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { type Query, query, type SDKUserMessage } from '@anthropic-ai/claude-agent-sdk';
import type { Logger } from '../../observability/logger.ts';
import { withShimPath } from '../../tools/command-shims.ts';
import type { SpareRequest, SpareTicket } from '../engine.ts';
import { EngineError, type EngineResult, type EngineRunContext } from '../engine.ts';
import { type TokenUsage, toUsage } from '../pricing.ts';
import { interpretResult, type Outcome, RunMapper, seedPrompt } from './messages.ts';
import { policySettingsOf } from './policy.ts';
import { buildCliEnv, type CliSpawner, cliSpawner, lineSplitter, TailLines } from './process.ts';
import { ProcessSlots } from './process-pool.ts';
import { appendedPrompt, bindRun, buildQueryOptions, runShape, shapeMismatch } from './query-options.ts';
import {
  claudeConfigDir,
  isClaudeSessionId,
  newClaudeSessionId,
  readStoredSession,
  transcriptExists,
  writeStoredSessionId,
} from './session-store.ts';
import { Spare } from './spare.ts';
import { SparePool } from './spares.ts';
import type { ClaudeCodeEngine, ClaudeCodeEngineOptions, LlmAccess, SpareOutcome } from './types.ts';

export type { ClaudeCodeEngine, ClaudeCodeEngineOptions, LlmAccess, ToolAuditEvent } from './types.ts';

/** How long a finished CLI gets to exit after its input ends before it is killed. */
const CLOSE_GRACE_MS = 5000;

function abortedError(usage?: EngineError['usage'], messages?: EngineError['messages']): EngineError {
  return new EngineError('aborted', 'run interrupted', usage, messages);
}

export function createClaudeCodeEngine(opts: ClaudeCodeEngineOptions): ClaudeCodeEngine {
  const { config, logger } = opts;
  const slots = new ProcessSlots(config.claudeMaxProcesses);
  const settings = opts.policySettings ?? policySettingsOf(config);
  const active = new Set<{ stop: () => void; done: Promise<unknown> }>();
  // Spares need the proxy's reserved tokens: a parked process must hold nothing it could spend.
  const pool =
    opts.spares && opts.spares.count > 0 && opts.llmAccess
      ? new SparePool({
          opts,
          settings,
          host: opts.spares,
          ...(opts.sandbox ? { sandbox: opts.sandbox } : {}),
          logger,
        })
      : undefined;
  const report = (o: SpareOutcome) => opts.onSpareOutcome?.(o);
  let closed = false;

  async function run(ctx: EngineRunContext): Promise<EngineResult> {
    // A spare taken for this run is the run's to use or to give up, whatever happens here.
    const spare = ctx.spare instanceof Spare ? ctx.spare : undefined;
    try {
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
      try {
        return await runInSlot(ctx, spare);
      } finally {
        release();
      }
    } finally {
      spare?.close();
    }
  }

  /** The run's LLM endpoint: a fresh per-run token, or the spare's reserved one activated now. */
  async function accessFor(ctx: EngineRunContext, model: string, spare?: Spare): Promise<LlmAccess> {
    const meter = ctx.meter;
    let access: LlmAccess | undefined;
    // Usage metered by the LLM proxy as it streams. A budget stop aborts the run from inside
    // `add`: the token is then revoked at once, so the CLI cannot start another model request.
    const onUsage = meter
      ? (inc: TokenUsage) => {
          meter.add(toUsage(model, inc));
          if (ctx.signal.aborted) access?.release();
        }
      : undefined;
    if (spare) access = spare.grant.activate(ctx.runId, model, onUsage);
    else if (opts.llmAccess) access = await opts.llmAccess(ctx.runId, model, onUsage);
    else access = { baseUrl: config.anthropicBaseUrl, apiKey: config.anthropicApiKey ?? '', release() {} };
    return access;
  }

  async function runInSlot(ctx: EngineRunContext, spare: Spare | undefined): Promise<EngineResult> {
    const workspace = await fsp.realpath(ctx.workspace);
    // Under the session's HOME when there is one: that directory is what a sandboxed CLI can write
    // (DATA_DIR itself is hidden from it), and it is removed with the session.
    const homeBase = ctx.env.HOME ?? config.dataDir;
    // The engine's own record of the conversation id: in the server's state directory, never in
    // CLAUDE_CONFIG_DIR (the sandboxed CLI and its commands write there).
    const stateDir = ctx.stateDir ?? claudeConfigDir(path.join(config.dataDir, 'state'), ctx.sessionId);
    const stored = await readStoredSession(stateDir);
    // The config dir is named after the session, or after the spare it started in.
    const configKey = stored.configKey ?? ctx.sessionId;
    const configDir = claudeConfigDir(homeBase, configKey);
    // Inside a sandbox the CLI creates its config dir itself (process.ts): the home is the agent's,
    // and a mkdir -p with the server's authority would follow a symlink planted there.
    if (!opts.sandbox || opts.sandbox.kind === 'none')
      await fsp.mkdir(configDir, { recursive: true, mode: 0o700 });
    const model = ctx.model || config.model;
    const log = logger.child({ engine: 'claude-code', runId: ctx.runId, sessionId: ctx.sessionId });

    // The conversation to resume: the engineState's (the scheduler's record), else the one this
    // engine recorded in the config dir (a run that failed before returning engineState).
    const stateId = ctx.engineState.claudeSessionId;
    const candidates = [isClaudeSessionId(stateId) ? stateId : undefined, stored.claudeSessionId].filter(
      (id, i, all): id is string => id !== undefined && all.indexOf(id) === i,
    );
    let previous: string | undefined;
    for (const id of candidates) {
      if (await transcriptExists(homeBase, configDir, id)) {
        previous = id;
        break;
      }
    }
    const canResume = previous !== undefined;
    const seeded = () => seedPrompt(ctx.history, ctx.input);
    if (candidates.length > 0 && !canResume) {
      ctx.emit({ type: 'session.notice', data: { message: transcriptLostNotice(ctx.history.length) } });
    }

    const base = { ctx, workspace, configDir, configKey, stateDir, model, log };
    let attempt: Attempt | undefined;
    if (spare && !canResume) {
      attempt = await runQuery({ ...base, resume: undefined, prompt: seeded(), spare });
      if (attempt.kind === 'spare_unused') {
        log.info('claude-code: the spare could not serve the run; starting cold', { why: attempt.why });
        attempt = undefined;
      }
    } else if (spare) {
      report('cold_resume');
      spare.close();
    }
    attempt ??= await runQuery({
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
    if (attempt.kind !== 'done') {
      throw new EngineError('engine_error', 'Claude Code could not start a conversation');
    }
    return attempt.result;
  }

  type Attempt =
    | { kind: 'done'; result: EngineResult }
    | { kind: 'resume_missing' }
    | { kind: 'spare_unused'; why: string };

  /** Whether a spare fits this run; the reason when it does not. */
  async function spareMisfit(spare: Spare, a: QueryArgs): Promise<string | null> {
    const { ctx } = a;
    const shape = runShape(opts, settings, { tools: ctx.tools, env: ctx.env, model: a.model, ctx });
    const why = shapeMismatch(spare.shape, shape);
    if (why) {
      pool?.refresh(); // the next spares get the current shape
      return `its ${why} differs`;
    }
    if (spare.kind === 'ready') {
      // Claimed ahead into an empty workspace with the default system prompt: only that run fits.
      if (ctx.systemPrompt?.trim()) return 'the session has its own system prompt';
      if (path.resolve(spare.slot.workspace) !== a.workspace) return 'another workspace';
      if ((await fsp.readdir(a.workspace)).length > 0) return 'the workspace is not empty';
      if (!spare.current()) return 'it was claimed on another day';
    }
    if (spare.state !== 'parked' && spare.state !== 'ready') return `it is ${spare.state}`;
    return null;
  }
  interface QueryArgs {
    ctx: EngineRunContext;
    workspace: string;
    configDir: string;
    configKey: string;
    stateDir: string;
    model: string;
    log: Logger;
    resume: string | undefined;
    prompt: string;
    /** Serve the run with this spare (a fresh conversation); else a cold start. */
    spare?: Spare;
  }

  async function runQuery(a: QueryArgs): Promise<Attempt> {
    const { ctx, spare } = a;
    if (ctx.signal.aborted) throw abortedError();
    if (spare) {
      const why = await spareMisfit(spare, a);
      if (why) {
        report('cold_mismatch');
        spare.close();
        return { kind: 'spare_unused', why };
      }
    }
    const access = await accessFor(ctx, a.model, spare);
    try {
      return await runWithAccess(a, access);
    } finally {
      access.release();
    }
  }

  async function runWithAccess(a: QueryArgs, access: LlmAccess): Promise<Attempt> {
    const { ctx, workspace, log, spare } = a;
    const mapper = new RunMapper({
      emit: ctx.emit,
      outputLimit: config.toolOutputLimit,
      ...(ctx.observer ? { observer: ctx.observer } : {}),
    });
    mapper.addUserInput(ctx.input);
    const toolMeta: Array<Record<string, unknown>> = [];

    // Fresh conversations get their id up front, recorded before the CLI starts: a run that
    // fails before returning engineState (interrupt, crash) is still resumed next time. A spare
    // was started as its conversation, in its own config dir.
    const claudeSessionId = spare ? spare.claudeSessionId : (a.resume ?? newClaudeSessionId());
    const configKey = spare ? spare.configKey : a.configKey;
    const storedKey = configKey === ctx.sessionId ? undefined : configKey;
    await writeStoredSessionId(a.stateDir, claudeSessionId, storedKey);

    let endInput: () => void = () => {};
    const inputDone = new Promise<void>((resolve) => {
      endInput = resolve;
    });
    const prompt = a.prompt;
    async function* input(): AsyncGenerator<SDKUserMessage> {
      yield { type: 'user', message: { role: 'user', content: prompt }, parent_tool_use_id: null };
      await inputDone;
    }

    // --- the CLI process: a spare's, or one started now ------------------------------------
    let controller: AbortController;
    let spawner: CliSpawner;
    let stderrTail: TailLines;
    let start: () => Query;
    let flushStderr = () => {};
    let refusal: Promise<string | undefined> = Promise.resolve(undefined);
    if (spare) {
      const shape = spare.shape;
      bindRun(spare.binding, opts, { ctx, shape, workspace, log, toolMeta });
      let served: ReturnType<Spare['serve']> | undefined;
      start = () => {
        served = spare.serve({
          prompt,
          inputDone,
          workspace,
          append: appendedPrompt(shape.policy, ctx.systemPrompt),
        });
        refusal = served.refusal;
        return served.query;
      };
      ({ controller, stderrTail } = spare);
      spawner = spareSpawner(spare, () => served?.spawner);
    } else {
      const cliEnv = buildCliEnv(
        { ...ctx.env, PATH: withShimPath(ctx.env.PATH) },
        { ...access, model: a.model },
        a.configDir,
      );
      stderrTail = new TailLines(20);
      const tail = stderrTail;
      const stderr = lineSplitter((line) => {
        tail.push(line);
        log.info('claude-code stderr', { line });
      });
      flushStderr = () => stderr.flush();
      controller = new AbortController();
      const options = buildQueryOptions({
        opts,
        settings,
        ctx,
        workspace,
        model: a.model,
        log,
        resume: a.resume,
        claudeSessionId,
        cliEnv,
        controller,
        toolMeta,
      });
      const cold = cliSpawner({
        sandbox: opts.sandbox,
        workspace,
        cliEnv,
        onStderr: (chunk) => stderr.push(chunk),
        onSpawn: opts.onSpawn,
      });
      spawner = cold;
      // The engine starts the CLI itself (own process group, reaped at the end, stderr to the log,
      // optionally inside the sandbox): the SDK's `stderr` option does not apply to such a process.
      options.spawnClaudeCodeProcess = (o) => cold.spawn(o);
      start = () => query({ prompt: input(), options });
    }

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
      const cli = start();
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
        flushStderr();
      }
    };
    entry.done = consume();
    active.add(entry);
    try {
      await entry.done;
    } finally {
      active.delete(entry);
      if (spare) spare.binding.current = undefined;
    }

    if (spare) {
      // A claim the process refused (or a spare that died before the conversation began) ran nothing:
      // the run starts cold instead, in the same workspace.
      const refused = await refusal;
      if ((refused || mapper.claudeSessionId === undefined) && !interrupted && !mapper.authFailure) {
        report('cold_refused');
        return { kind: 'spare_unused', why: refused ?? 'the spare ended before the conversation began' };
      }
      report(spare.kind === 'ready' ? 'spare_ready' : 'spare_parked');
    }

    // An answer still streaming when the CLI ended was cut off (interrupt, crash).
    mapper.endCall('incomplete');
    const sessionId = mapper.claudeSessionId ?? claudeSessionId;
    if (sessionId !== claudeSessionId)
      await writeStoredSessionId(a.stateDir, sessionId, storedKey).catch(() => {});

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
    if (interrupted) throw abortedError(usage, mapper.messages);
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
    spareStats: () => pool?.stats(),
    sparePids: () => pool?.pids() ?? [],
    takeSpare(req: SpareRequest): SpareTicket | undefined {
      if (closed || !pool) return undefined;
      const spare = pool.take({
        model: req.model || config.model,
        empty: !req.repo && !req.systemPrompt?.trim(),
      });
      if (!spare) report('cold_no_spare');
      return spare;
    },
    async warm() {
      pool?.fill();
    },
    async close() {
      closed = true;
      const running = [...active];
      for (const r of running) r.stop();
      await Promise.allSettled([...running.map((r) => r.done), pool?.close()]);
    },
  };
}

/** The spare's spawner, seen through the run (the process it serves is the spare's own). */
function spareSpawner(spare: Spare, served: () => CliSpawner | undefined): CliSpawner {
  return {
    spawn: () => {
      throw new Error(`spare ${spare.id}: the process is already started`);
    },
    pid: () => spare.pid(),
    terminate: (signal) => served()?.terminate(signal),
    reap: async (graceMs) => {
      await served()?.reap(graceMs);
    },
  };
}

function transcriptLostNotice(historyLength: number): string {
  const seeded = historyLength > 0 ? ' seeded with a summary of the earlier messages' : '';
  return `The Claude Code transcript of this session is not available; continuing in a new conversation${seeded}.`;
}
