// The composition root: builds every part from the configuration, bottom up, then lists who
// subscribes to what on the run lifecycle bus — the parts hold no references to each other beyond
// what they are constructed with. Data flows one way:
// request → store → queue → engine → tools → events → store → subscribers.
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Engine } from './agent/engine.ts';
import type { Config } from './config.ts';
import { AuditLog, configSecrets } from './observability/audit.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import type { EngineName } from './protocol/index.ts';
import type { MemoryProbe } from './runs/admission.ts';
import { CallbackDispatcher } from './runs/callbacks.ts';
import { cleanupWorkspaces } from './runs/cleanup.ts';
import { EventLog } from './runs/event-log.ts';
import { RunExecutor } from './runs/executor.ts';
import { Lifecycle } from './runs/lifecycle.ts';
import { RedisBroadcaster } from './runs/redis-broadcaster.ts';
import { recordRunMetrics } from './runs/run-metrics.ts';
import { Scheduler } from './runs/scheduler.ts';
import { SessionService } from './runs/sessions.ts';
import { WorkflowService } from './runs/workflows.ts';
import { WorkspacePreparer } from './runs/workspace-preparer.ts';
import { createEngines } from './runtime-engines.ts';
import { healthChecks } from './runtime-health.ts';
import { createSandbox, identitiesOf, SandboxStartupError, unavailableSandbox } from './sandbox/index.ts';
import type { SandboxWrapper } from './sandbox/types.ts';
import { WorkspaceManager } from './sandbox/workspace/manager.ts';
import { LlmProxy } from './security/llm-proxy.ts';
import { AccessGuard } from './server/access-guard.ts';
import { createApp } from './server/app.ts';
import { API_SECURITY, apiGuard, documentSecurity, storeNonceChecker, upgradeAuth } from './server/auth.ts';
import type { ServerDeps } from './server/deps.ts';
import { type Listening, listen } from './server/http.ts';
import { auditRoutes } from './server/routes/audit.ts';
import { workflowRoutes } from './server/routes/workflows.ts';
import { createWsGateway } from './server/ws.ts';
import { createStore } from './store/index.ts';
import type { Store } from './store/types.ts';
import { auditTools } from './tools/audit.ts';
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
  /** Memory available to new runs (admission control); tests inject one. */
  memoryProbe?: MemoryProbe;
}

export interface Runtime {
  config: Config;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  /** The run lifecycle bus (what happened to runs, workflows, callbacks; API actions). */
  lifecycle: Lifecycle;
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

  // ---- parts, bottom up -------------------------------------------------------------------
  const store = await createStore(config);
  const lifecycle = new Lifecycle(logger);
  const audit = new AuditLog({ store, logger, secrets: configSecrets(config) });
  const sandbox = await sandboxOrUnavailable(config, logger);
  const workspaces = new WorkspaceManager(config.dataDir, { identities: identitiesOf(sandbox) });
  // Live events of other instances arrive through Redis pub/sub (a store of one process has none).
  if (config.redisUrl && !store.shared)
    logger.warn('REDIS_URL is ignored: the embedded SQLite store serves one instance');
  const broadcaster =
    config.redisUrl && store.shared
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
  const engines = opts.engines ?? createEngines({ config, logger, sandbox, audit, llmProxy });
  const workflows = new WorkflowService({ store, config, logger, eventLog, lifecycle, workspaces, sandbox });
  const executor = new RunExecutor({
    store,
    config,
    logger,
    eventLog,
    lifecycle,
    engines,
    tools: (run, session) =>
      auditTools(mcp ? [...tools, ...mcp.tools()] : tools, audit, { runId: run.id, sessionId: session.id }),
    workspaces: new WorkspacePreparer({ config, store, manager: workspaces, sandbox, eventLog }),
    // A workflow's terminal status and callback commit with its run's end.
    workflowEnd: (run, outcome) => workflows.terminalTransition(run, outcome),
  });
  const scheduler = new Scheduler({
    store,
    config,
    logger,
    metrics,
    eventLog,
    executor,
    lifecycle,
    deadlineFor: (run) => workflows.timeoutFor(run),
    ...(opts.memoryProbe ? { memoryProbe: opts.memoryProbe } : {}),
  });
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
  const sessions = new SessionService({ store, config, eventLog, lifecycle, workspaces });

  // ---- subscriptions: who reacts to what happened to runs ----------------------------------
  const unsubscribe = [
    ...scheduler.listen(), // run.queued → claim; run.stop → stop it if it runs here; session.deleting → wait
    ...workflows.listen(), // run.started / run.requeued → the workflow follows its run
    lifecycle.on('outbox.queued', () => callbacks.kick()), // deliver now, not at the next poll
    ...recordRunMetrics(lifecycle, metrics), // run.started / run.finished / tool.completed
    lifecycle.on('action', (a) => void audit.record(a)), // API actions, HTTP and WebSocket alike
  ];

  // ---- the HTTP and WebSocket edge ----------------------------------------------------------
  let accepting = true;
  const deps: ServerDeps = {
    config,
    store,
    logger,
    metrics,
    eventLog,
    sessions,
    version: VERSION,
    startedAt,
    healthChecks: healthChecks({ config, store, sandbox, broadcaster, scheduler }),
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
    apiMiddleware: [apiGuard(guard, config.maxBodyBytes)],
    metricsMiddleware: config.metricsAuth ? [apiGuard(guard, config.maxBodyBytes)] : [],
    routes: [
      workflowRoutes(deps, workflows),
      auditRoutes(store),
      (a) => documentSecurity(a, { metricsAuth: config.metricsAuth }),
    ],
    security: API_SECURITY,
  });
  const timers: NodeJS.Timeout[] = [];
  const ws = createWsGateway(deps, upgradeAuth(guard), { now: opts.rateLimitClock });

  const runtime: Runtime = {
    config,
    store,
    logger,
    metrics,
    lifecycle,
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
      if (broadcaster && !(await broadcaster.ready(5_000)))
        logger.warn('redis not reachable yet; live events of other instances are delayed until it is');
      await scheduler.start(); // re-queues the runs of dead workers (expired leases)
      await workflows.recover(); // … and their workflows, if a crash came between the two
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
      // Every step runs even when an earlier one fails; the failures are logged by name.
      const steps: Array<[string, () => unknown]> = [
        [
          'timers',
          () => {
            for (const t of timers) clearInterval(t);
          },
        ],
        ['scheduler', () => scheduler.drain(graceMs)],
        // After the drain: runs that end in the grace period get their callback sent now.
        ['callbacks', () => callbacks.stop()],
        ['event log', () => eventLog.flush()],
        ['redis', () => broadcaster?.close()],
        ['websockets', () => ws.close()],
        ['http', () => runtime.listening?.close()],
        ['access guard', () => guard.close()],
        ...Object.entries(engines).map(([name, e]): [string, () => unknown] => [
          `engine ${name}`,
          () => e?.close?.(),
        ]),
        ['mcp', () => mcp?.close()],
        ['llm proxy', () => llmProxy?.close()],
        [
          'sandbox',
          () => ('close' in sandbox && typeof sandbox.close === 'function' ? sandbox.close() : undefined),
        ],
        ['audit', () => audit.flush()],
        [
          'subscriptions',
          () => {
            for (const off of unsubscribe) off();
          },
        ],
        ['store', () => store.close()],
      ];
      const failed: string[] = [];
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (err) {
          failed.push(name);
          logger.error('shutdown step failed', { step: name, err });
        }
      }
      if (failed.length > 0) logger.error('shutdown finished with failures', { failed });
    },
  };
  return runtime;
}

/** The configured sandbox, or one that refuses every run with the reason (health says why). */
async function sandboxOrUnavailable(config: Config, logger: Logger): Promise<SandboxWrapper> {
  try {
    return await createSandbox(config, logger);
  } catch (err) {
    if (!(err instanceof SandboxStartupError)) throw err;
    // Serve anyway; runs fail with sandbox_unavailable, nothing runs unsandboxed.
    logger.error(`${err.message} — every run will fail with sandbox_unavailable until this is fixed`);
    return unavailableSandbox(err.message);
  }
}
