// The composition root: builds every part from the configuration and wires them together.
// Data flows one way: request → store → queue → engine → tools → events → store → subscribers.
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Engine } from './agent/engine.ts';
import { lazyEngine } from './agent/lazy.ts';
import type { Config } from './config.ts';
import { AuditLog, auditTools, configSecrets, summarizeToolInput } from './observability/audit.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import type { EngineName } from './protocol/index.ts';
import { CallbackDispatcher } from './runs/callbacks.ts';
import { cleanupWorkspaces } from './runs/cleanup.ts';
import { EventLog } from './runs/event-log.ts';
import { RunExecutor } from './runs/executor.ts';
import { RedisBroadcaster } from './runs/redis-broadcaster.ts';
import { Scheduler } from './runs/scheduler.ts';
import { SessionService } from './runs/sessions.ts';
import { WorkflowService } from './runs/workflows.ts';
import { WorkspacePreparer } from './runs/workspace-preparer.ts';
import {
  createSandbox,
  identitiesOf,
  SandboxStartupError,
  sandboxUnavailableReason,
  unavailableSandbox,
} from './sandbox/index.ts';
import type { SandboxWrapper } from './sandbox/types.ts';
import { WorkspaceManager } from './sandbox/workspace/manager.ts';
import { LlmProxy } from './security/llm-proxy.ts';
import { AccessGuard } from './server/access-guard.ts';
import { createApp } from './server/app.ts';
import { API_SECURITY, apiGuard, documentSecurity, storeNonceChecker, upgradeAuth } from './server/auth.ts';
import type { HealthCheck, ServerDeps } from './server/deps.ts';
import { type Listening, listen } from './server/http.ts';
import { auditActions, auditRoutes } from './server/routes/audit.ts';
import { workflowRoutes } from './server/routes/workflows.ts';
import { createWsGateway } from './server/ws.ts';
import { createStore } from './store/index.ts';
import type { Store } from './store/types.ts';
import { createTools } from './tools/index.ts';
import { createMcpToolSource } from './tools/mcp.ts';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface RuntimeOptions {
  logger?: Logger;
  /** Replace engines (tests). */
  engines?: Partial<Record<EngineName, Engine>>;
  /** Callback retry timing (tests shorten it). */
  callbacks?: ConstructorParameters<typeof CallbackDispatcher>[0]['options'];
  /** The clock of the rate limits and signature windows (tests move it instead of sleeping). */
  rateLimitClock?: () => number;
}

export interface Runtime {
  config: Config;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  eventLog: EventLog;
  scheduler: Scheduler;
  sessions: SessionService;
  workflows: WorkflowService;
  audit: AuditLog;
  callbacks: CallbackDispatcher;
  /** Authentication, rate limits and failure throttling of /api and /ws. */
  guard: AccessGuard;
  app: OpenAPIHono;
  listening?: Listening;
  start(): Promise<Listening>;
  /** SIGTERM path: stop taking work, drain runs for up to graceMs, close everything. */
  shutdown(graceMs?: number): Promise<void>;
}

export async function createRuntime(config: Config, opts: RuntimeOptions = {}): Promise<Runtime> {
  const startedAt = Date.now();
  const logger = opts.logger ?? createLogger({ level: config.logLevel, base: { service: 'agent-server' } });
  const metrics = createMetrics();
  await fs.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const store = await createStore(config);
  const audit = new AuditLog({ store, logger, secrets: configSecrets(config) });
  let sandbox: SandboxWrapper;
  try {
    sandbox = await createSandbox(config, logger);
  } catch (err) {
    if (!(err instanceof SandboxStartupError)) throw err;
    // Serve anyway (health says why); runs fail with sandbox_unavailable, nothing runs unsandboxed.
    logger.error(`${err.message} — every run will fail with sandbox_unavailable until this is fixed`);
    sandbox = unavailableSandbox(err.message);
  }
  const workspaces = new WorkspaceManager(config.dataDir, { identities: identitiesOf(sandbox) });
  // Multi-instance: live events of other instances arrive through Redis pub/sub (SQLite is one process).
  if (config.redisUrl && store.dialect !== 'postgres')
    logger.warn('REDIS_URL is ignored: the embedded SQLite store serves one instance');
  const broadcaster =
    config.redisUrl && store.dialect === 'postgres'
      ? new RedisBroadcaster({ url: config.redisUrl, logger, instanceId: config.instanceId })
      : undefined;
  const eventLog = new EventLog({
    store,
    logger,
    broadcaster,
    onStored: (n) => metrics.eventsAppended.inc({}, n),
  });
  const tools = createTools({ config, sandbox });
  // Tools of the configured MCP server (connected in start(); zero tools while it is unreachable).
  const mcp = config.mcpServerUrl
    ? createMcpToolSource({
        url: config.mcpServerUrl,
        authToken: config.mcpAuthToken,
        logger,
        outputLimit: config.toolOutputLimit,
      })
    : undefined;
  // Claude Code gets a per-run token for this loopback proxy, never the real key (docs/security.md).
  const llmProxy = config.anthropicApiKey
    ? new LlmProxy({
        upstreamUrl: config.anthropicBaseUrl,
        apiKey: config.anthropicApiKey,
        logger,
        maxBodyBytes: config.llmProxyMaxBodyBytes,
        allowBetas: config.llmProxyAllowBetas,
        maxConcurrentPerGrant: config.llmProxyMaxConcurrent,
        requestTimeoutMs: config.llmProxyRequestTimeoutMs,
        idleTimeoutMs: config.llmProxyIdleTimeoutMs,
      })
    : undefined;
  await llmProxy?.start();
  // A sandboxed Claude Code CLI reaches the proxy on its own 127.0.0.1:<port> (and nothing else of the host's loopback).
  if (llmProxy && 'allowLoopbackPort' in sandbox && typeof sandbox.allowLoopbackPort === 'function') {
    sandbox.allowLoopbackPort(llmProxy.port);
  }
  const engines: Partial<Record<EngineName, Engine>> = opts.engines ?? {
    native: lazyEngine('native', async () =>
      (await import('./agent/native/engine.ts')).createNativeEngine({ config }),
    ),
    'claude-code': lazyEngine('claude-code', async () =>
      (await import('./agent/claude-code/engine.ts')).createClaudeCodeEngine({
        config,
        logger: logger.child({ component: 'claude-code' }),
        // The whole CLI process (and every command it runs) lives in the sandbox.
        sandbox,
        // The token is bound to the run's model: the proxy refuses any other.
        ...(llmProxy
          ? { llmAccess: async (runId: string, model: string) => llmProxy.grant(runId, { model }) }
          : {}),
        // Claude Code's own tools (Read, Edit, Bash, …) do not pass through auditTools: record them here.
        // The server's tools it calls through the MCP bridge are already audited.
        onToolEvent: (e) => {
          if (e.phase !== 'post' || e.tool.startsWith('mcp__server__')) return;
          void audit.record({
            actor: 'agent',
            action: 'tool.call',
            target: e.sessionId,
            outcome: e.isError ? 'error' : 'ok',
            details: {
              tool: e.tool,
              input: summarizeToolInput(e.tool, e.input),
              runId: e.runId,
              durationMs: e.durationMs,
              engine: 'claude-code',
            },
          });
        },
      }),
    ),
  };
  const workflows = new WorkflowService({ store, config, logger, eventLog, workspaces, sandbox });
  const hooks = workflows;
  const executor = new RunExecutor({
    store,
    config,
    logger,
    metrics,
    eventLog,
    engines,
    tools: (run, session) =>
      auditTools(mcp ? [...tools, ...mcp.tools()] : tools, audit, { runId: run.id, sessionId: session.id }),
    workspaces: new WorkspacePreparer({ config, store, manager: workspaces, sandbox, eventLog }),
    hooks,
  });
  const scheduler = new Scheduler({
    store,
    config,
    logger,
    metrics,
    eventLog,
    executor,
    hooks,
    deadlineFor: (run) => workflows.timeoutFor(run),
  });
  workflows.attach(scheduler);
  const callbacks = new CallbackDispatcher({
    store,
    config,
    logger,
    metrics,
    options: {
      baseDelayMs: config.callbackRetryBaseMs,
      maxDelayMs: config.callbackRetryMaxMs,
      ...opts.callbacks,
    },
  });
  workflows.onOutbox = () => callbacks.kick();
  const sessions = new SessionService({ store, config, eventLog, scheduler, workspaces });
  let accepting = true;

  const healthChecks: HealthCheck[] = [
    {
      name: 'database',
      check: async () => {
        await store.ping();
        return { ok: true, dialect: store.dialect };
      },
    },
    {
      name: 'disk',
      check: async () => {
        const s = await fs.statfs(config.dataDir);
        const free = s.bavail * s.bsize;
        const total = s.blocks * s.bsize;
        // Nearly full: under 2% or under 256 MiB left for workspaces and the database.
        return { ok: free > 256 * 1024 * 1024 && free / total > 0.02, freeBytes: free, totalBytes: total };
      },
    },
    {
      name: 'llm',
      // Informational: a server without credentials still serves (runs fail with a clear error).
      check: async () => ({
        ok: true,
        configured: Boolean(config.anthropicApiKey),
        baseUrl: config.anthropicBaseUrl,
      }),
    },
    {
      name: 'sandbox',
      check: async () => {
        const unavailable = sandboxUnavailableReason(sandbox);
        return unavailable
          ? { ok: false, kind: sandbox.kind, error: unavailable }
          : { ok: true, kind: sandbox.kind };
      },
    },
    // Informational: without Redis, live events of other instances arrive late (followers catch up).
    ...(broadcaster ? [{ name: 'redis', check: async () => ({ ok: true, ...broadcaster.status() }) }] : []),
  ];
  const deps: ServerDeps = {
    config,
    store,
    logger,
    metrics,
    eventLog,
    scheduler,
    sessions,
    version: VERSION,
    startedAt,
    healthChecks,
    isAccepting: () => accepting,
  };
  metrics.registry.gauge('agent_uptime_seconds', 'Process uptime', () =>
    Math.round((Date.now() - startedAt) / 1000),
  );
  const guard = new AccessGuard({
    config,
    audit,
    logger,
    metrics,
    acceptNonce: storeNonceChecker(store, opts.rateLimitClock),
    now: opts.rateLimitClock,
  });
  const app = createApp(deps, {
    apiMiddleware: [apiGuard(guard, config.maxBodyBytes), auditActions(audit)],
    metricsMiddleware: config.metricsAuth ? [apiGuard(guard, config.maxBodyBytes)] : [],
    routes: [
      workflowRoutes(deps, workflows),
      auditRoutes(store),
      (a) => documentSecurity(a, { metricsAuth: config.metricsAuth }),
    ],
    security: API_SECURITY,
  });
  const timers: NodeJS.Timeout[] = [];
  const ws = createWsGateway(deps, upgradeAuth(guard), { audit, now: opts.rateLimitClock });

  const runtime: Runtime = {
    config,
    store,
    logger,
    metrics,
    eventLog,
    scheduler,
    sessions,
    workflows,
    callbacks,
    audit,
    guard,
    app,
    async start() {
      await mcp?.start();
      // Nonces of an earlier process stay (a restart must not reopen the replay window); expired ones go.
      await store.pruneNonces(new Date().toISOString());
      await workflows.reconcile();
      if (broadcaster && !(await broadcaster.ready(5_000)))
        logger.warn('redis not reachable yet; live events of other instances are delayed until it is');
      await scheduler.start();
      callbacks.start();
      const sweep = () =>
        cleanupWorkspaces({
          store,
          workspaces,
          scheduler,
          retentionMs: config.workspaceRetentionMs,
          logger,
        }).catch((err) => logger.warn('workspace cleanup failed', { err }));
      timers.push(setInterval(sweep, Math.min(3_600_000, Math.max(10_000, config.workspaceRetentionMs / 4))));
      for (const t of timers) t.unref();
      runtime.listening = await listen({
        app,
        host: config.host,
        port: config.port,
        onUpgrade: ws.handleUpgrade,
        limits: config,
        logger,
      });
      return runtime.listening;
    },
    async shutdown(graceMs = config.shutdownGraceMs) {
      accepting = false;
      for (const t of timers) clearInterval(t);
      callbacks.stop();
      await scheduler.drain(graceMs);
      await eventLog.flush();
      await broadcaster?.close();
      await ws.close();
      await runtime.listening?.close();
      guard.close();
      for (const e of Object.values(engines)) await e?.close?.();
      await mcp?.close();
      await llmProxy?.close();
      if ('close' in sandbox && typeof sandbox.close === 'function') await sandbox.close();
      await audit.flush();
      await store.close();
    },
  };
  return runtime;
}
