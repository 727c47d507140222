// The composition root: builds every part from the configuration, bottom up, then lists who
// subscribes to what on the run lifecycle bus — the parts hold no references to each other beyond
// what they are constructed with. Data flows one way:
// request → store → queue → engine → tools → events → store → subscribers.
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ClaudeCodeEngine } from './agent/claude-code/types.ts';
import type { Engine } from './agent/engine.ts';
import { toAnthropicTools } from './agent/tool-schema.ts';
import { type Clock, systemClock } from './clock.ts';
import type { Config } from './config.ts';
import type { HostLookup } from './net/safe-post.ts';
import { AuditLog, configSecrets } from './observability/audit.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { treeRss } from './observability/proc-tree.ts';
import { ResourceMonitor } from './observability/resources.ts';
import { buildStats, StatsRecorder } from './observability/stats.ts';
import { createTracing, type Tracing } from './observability/tracing.ts';
import type { EngineName } from './protocol/index.ts';
import type { MemoryProbe } from './runs/admission.ts';
import { type AlertManager, createAlerts } from './runs/alerts/index.ts';
import { ApprovalService } from './runs/approvals.ts';
import { CallbackDispatcher } from './runs/callbacks.ts';
import { cleanupWorkspaces } from './runs/cleanup.ts';
import { EventLog } from './runs/event-log.ts';
import { RunExecutor } from './runs/executor.ts';
import { InstanceRegistry } from './runs/instances.ts';
import { Lifecycle } from './runs/lifecycle.ts';
import { logLifecycle } from './runs/lifecycle-log.ts';
import type { RedisBroadcaster } from './runs/redis-broadcaster.ts';
import { recordRunMetrics } from './runs/run-metrics.ts';
import { RunTelemetry } from './runs/run-telemetry.ts';
import { Scheduler } from './runs/scheduler.ts';
import { INTERACTIVE_PRIORITY, SessionService } from './runs/sessions.ts';
import { WorkflowService } from './runs/workflows.ts';
import { WorkspacePreparer } from './runs/workspace-preparer.ts';
import { createEngines, spareHostOf } from './runtime-engines.ts';
import { healthChecks } from './runtime-health.ts';
import { buildChildEnv } from './sandbox/child-env.ts';
import { createSandbox, identitiesOf, SandboxStartupError, unavailableSandbox } from './sandbox/index.ts';
import type { SandboxWrapper } from './sandbox/types.ts';
import { diskUsage } from './sandbox/workspace/disk-quota.ts';
import { WorkspaceManager } from './sandbox/workspace/manager.ts';
import { GitCredentialProxy } from './security/git-credential-proxy.ts';
import { createGitHubCredentials } from './security/github-credentials.ts';
import { LlmProxy } from './security/llm-proxy.ts';
import { AccessGuard } from './server/access-guard.ts';
import { createApp } from './server/app.ts';
import {
  API_SECURITY,
  apiGuard,
  authConfigured,
  documentSecurity,
  storeNonceChecker,
  upgradeAuth,
} from './server/auth.ts';
import type { ServerDeps } from './server/deps.ts';
import { type Listening, listen } from './server/http.ts';
import { approvalRoutes } from './server/routes/approvals.ts';
import { auditRoutes } from './server/routes/audit.ts';
import { statsRoutes } from './server/routes/stats.ts';
import { ticketRoutes } from './server/routes/tickets.ts';
import { workflowRoutes } from './server/routes/workflows.ts';
import { createDashboard, type Dashboard } from './server/ui.ts';
import { createWsGateway } from './server/ws.ts';
import { createStore } from './store/index.ts';
import { PRIORITY_RANK, type Store } from './store/types.ts';
import { auditTools } from './tools/audit.ts';
import { createGitCredentialBroker } from './tools/git-credentials.ts';
import { createTools } from './tools/index.ts';
import { McpServers } from './tools/mcp-servers.ts';

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
  /** Alerts and instance heartbeats: their clock, and the host resolution of the alert sinks (tests). */
  alerts?: { clock?: Clock; lookup?: HostLookup };
  /** Memory available to new runs (admission control); tests inject one. */
  memoryProbe?: MemoryProbe;
  /** The scheduler's clock (queue polling, leases, sweeps); tests stop it to see what wakes it. */
  schedulerClock?: Clock;
}

export interface Runtime {
  config: Config;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  /** Spans (no-op without an OTLP endpoint). */
  tracing: Tracing;
  /** Recent observations behind GET /api/stats. */
  stats: StatsRecorder;
  resources: ResourceMonitor;
  /** The run lifecycle bus (what happened to runs, workflows, callbacks; API actions). */
  lifecycle: Lifecycle;
  eventLog: EventLog;
  scheduler: Scheduler;
  sessions: SessionService;
  workflows: WorkflowService;
  audit: AuditLog;
  callbacks: CallbackDispatcher;
  /** Alert rules and notifications (docs/api.md §11); `alerts.firing()` feeds /api/stats. */
  alerts: AlertManager;
  /** This instance's heartbeat; the other instances' liveness. */
  instances: InstanceRegistry;
  /** Authentication, rate limits and failure throttling of /api and /ws. */
  guard: AccessGuard;
  /** The web dashboard at /ui/ (absent with UI_ENABLED=false). */
  dashboard?: Dashboard;
  app: OpenAPIHono;
  listening?: Listening;
  start(): Promise<Listening>;
  /** SIGTERM path: stop taking work, drain runs for up to graceMs, close everything. */
  shutdown(graceMs?: number): Promise<void>;
}

/** The server's logger as configured: level, pretty or JSON, redact paths, the secrets it scrubs. */
export function createServerLogger(config: Config, write?: (line: string) => void): Logger {
  return createLogger({
    level: config.logLevel,
    base: { service: 'agent-server' },
    pretty: config.logPretty,
    redact: config.logRedact,
    secrets: configSecrets(config),
    ...(write ? { write } : {}),
  });
}

/** How long after listening the engines start loading (see start()). */
const WARMUP_DELAY_MS = 200;

export async function createRuntime(config: Config, opts: RuntimeOptions = {}): Promise<Runtime> {
  const startedAt = Date.now();
  const logger = opts.logger ?? createServerLogger(config);
  const metrics = createMetrics({ startedAt });
  // The OpenTelemetry SDK is loaded only when an OTLP endpoint is configured.
  const tracing = await createTracing(
    { ...config.otel, serviceVersion: VERSION, serviceInstanceId: config.instanceId },
    logger,
  );
  const stats = new StatsRecorder({ capacity: config.statsMaxSamples });
  await fs.mkdir(config.dataDir, { recursive: true, mode: 0o700 });

  // ---- parts, bottom up -------------------------------------------------------------------
  const store = await createStore(config);
  const lifecycle = new Lifecycle(logger);
  const audit = new AuditLog({ store, logger, secrets: configSecrets(config) });
  const sandbox = await sandboxOrUnavailable(config, logger);
  const workspaces = new WorkspaceManager(config.dataDir, { identities: identitiesOf(sandbox) });
  const resources = new ResourceMonitor({
    dataDir: config.dataDir,
    startedAt,
    workspaceIntervalMs: config.workspaceUsageIntervalMs,
    ...(config.workspaceUsageIntervalMs > 0
      ? {
          workspaceBytes: async () =>
            (await diskUsage(workspaces.root)).bytes + (await diskUsage(workspaces.homesRoot)).bytes,
        }
      : {}),
  });
  metrics.useResources(resources);
  // Live events of other instances arrive through Redis pub/sub (a store of one process has none).
  if (config.redisUrl && !store.shared)
    logger.warn('REDIS_URL is ignored: the embedded SQLite store serves one instance');
  // Imported only when used: ioredis costs a single-process server ~35 ms of start-up for nothing.
  const broadcaster: RedisBroadcaster | undefined =
    config.redisUrl && store.shared
      ? new (await import('./runs/redis-broadcaster.ts')).RedisBroadcaster({
          url: config.redisUrl,
          logger,
          instanceId: config.instanceId,
        })
      : undefined;
  const eventLog = new EventLog({
    store,
    logger,
    broadcaster,
    onStored: (n) => metrics.eventsAppended.inc({}, n),
  });
  // GitHub: a token or an App's per-repository installation tokens, for the gh tool's REST calls
  // and — through the git credential proxy, never inside a sandbox — for git over HTTPS.
  const github = createGitHubCredentials({
    token: config.githubToken,
    app: config.githubApp,
    apiUrl: config.githubApiUrl,
  });
  const gitProxy = github.configured ? new GitCredentialProxy({ logger }) : undefined;
  await gitProxy?.start();
  // Only the server's git processes reach it (the `git` egress policy), never the model's commands.
  if (gitProxy && 'allowLoopbackPort' in sandbox && typeof sandbox.allowLoopbackPort === 'function') {
    sandbox.allowLoopbackPort(gitProxy.port, 'git');
  }
  const gitCredentials = gitProxy
    ? createGitCredentialBroker({ proxy: gitProxy, credentials: github, gitBaseUrl: config.githubGitUrl })
    : undefined;
  const tools = createTools({ config, sandbox, github, ...(gitCredentials ? { gitCredentials } : {}) });
  // Tools of the configured MCP servers (MCP_CONFIG, MCP_SERVER_URL): connected in start(), each
  // supervised (reconnected, a stdio server restarted in its sandbox) and reported in /health.
  const mcp =
    config.mcpServers.length > 0
      ? new McpServers({
          servers: config.mcpServers,
          logger,
          sandbox,
          stateDir: (name) => workspaces.ensureMcpDir(name),
          baseEnv: buildChildEnv(config, { home: '/tmp', tmpDir: '/tmp' }),
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
  // Warm Claude Code spares: started after the server listens, in slots of their own, each with a
  // proxy token that refuses everything until a run claims it (src/agent/claude-code/spares.ts).
  let admission: Pick<Scheduler, 'admitSpare' | 'releaseSpare'> | undefined; // the scheduler, once made
  const spareRuns = metrics.counterOf(
    'agent_claude_spare_runs_total',
    "How new sessions' first claude-code runs started: with a warm spare (spare_ready, spare_parked) or cold (cold_no_spare, cold_mismatch, cold_refused, cold_resume)",
    ['outcome'],
  );
  const spares = spareHostOf({
    config,
    sandbox,
    llmProxy,
    workspaces,
    tools: () => (mcp ? [...tools, ...mcp.tools()] : tools),
    admit: (key) => admission?.admitSpare(key) ?? false,
    released: (key) => admission?.releaseSpare(key),
  });
  const created = opts.engines
    ? undefined
    : createEngines({
        config,
        logger,
        sandbox,
        audit,
        llmProxy,
        ...(spares ? { spares, onSpareOutcome: (outcome) => spareRuns.inc({ outcome }) } : {}),
      });
  const engines: Partial<Record<EngineName, Engine>> = opts.engines ?? created ?? {};
  const claudeCode = (): ClaudeCodeEngine | undefined => {
    const e = created?.['claude-code']?.loaded;
    return e && 'spareStats' in e ? (e as ClaudeCodeEngine) : undefined;
  };
  metrics.observeLabeled(
    'agent_claude_spares',
    'Warm Claude Code spares on this instance by state (starting, parked: claimed when its run starts, ready: claimed ahead)',
    ['state'],
    () => {
      const st = claudeCode()?.spareStats();
      return (['starting', 'parked', 'ready'] as const).map((state) => [{ state }, st?.[state] ?? 0]);
    },
  );
  metrics.observe(
    'agent_claude_spares_rss_bytes',
    'Resident memory of the warm Claude Code spares (their process trees, summed)',
    () => treeRss(claudeCode()?.sparePids() ?? []),
  );
  metrics.observe(
    'agent_claude_spares_failed',
    'Spares that failed to start or died while parked, since start',
    () => claudeCode()?.spareStats()?.failed ?? 0,
  );
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
    workspaces: new WorkspacePreparer({
      config,
      store,
      manager: workspaces,
      sandbox,
      eventLog,
      ...(gitCredentials ? { gitCredentials } : {}),
    }),
    // A workflow's terminal status and callback commit with its run's end.
    workflowEnd: (run, outcome) => workflows.terminalTransition(run, outcome),
    telemetry: new RunTelemetry({ metrics, stats, tracing }),
    ...(sandbox.usage ? { sandboxUsage: (dir: string) => sandbox.usage?.take(dir) } : {}),
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
    ...(opts.schedulerClock ? { clock: opts.schedulerClock } : {}),
  });
  admission = scheduler;
  const callbacks = new CallbackDispatcher({
    store,
    config,
    logger,
    metrics,
    lifecycle,
    tracing,
    options: {
      baseDelayMs: config.callbackRetryBaseMs,
      maxDelayMs: config.callbackRetryMaxMs,
      ...opts.callbacks,
    },
  });
  const sessions = new SessionService({ store, config, eventLog, lifecycle, workspaces });
  const approvals = new ApprovalService({ store, eventLog, lifecycle });
  const alertClock = opts.alerts?.clock ?? systemClock;
  const instances = new InstanceRegistry({
    store,
    instanceId: config.instanceId,
    version: VERSION,
    heartbeatMs: config.instanceHeartbeatMs,
    staleMs: config.alerts.instanceStaleMs,
    logger,
    clock: alertClock,
  });
  const alerts = createAlerts({
    config,
    store,
    instances,
    logger,
    registry: metrics,
    clock: alertClock,
    ...(opts.alerts?.lookup ? { lookup: opts.alerts.lookup } : {}),
  });

  // ---- subscriptions: who reacts to what happened to runs ----------------------------------
  broadcaster?.onWork(() => scheduler.wake());
  const unsubscribe = [
    ...scheduler.listen(), // run.queued → claim; run.stop → stop it if it runs here; session.deleting → wait
    ...workflows.listen(), // run.started / run.requeued → the workflow follows its run
    lifecycle.on('outbox.queued', () => callbacks.kick()), // deliver now, not at the next poll
    // run.started / run.finished / tool.completed / workflow.finished → metrics and /api/stats
    ...recordRunMetrics(lifecycle, metrics, { stats, getWorkflow: (id) => store.getWorkflow(id) }),
    ...logLifecycle(lifecycle, logger), // one log line per run and workflow state change
    lifecycle.on('action', (a) => void audit.record(a)), // API actions, HTTP and WebSocket alike
    // run and callback outcomes → the counting alert rules (run, LLM, callback failures)
    lifecycle.on('run.finished', ({ outcome }) =>
      alerts.runFinished(outcome.status, outcome.status === 'failed' ? outcome.error.code : undefined),
    ),
    lifecycle.on('callback.attempted', (c) => alerts.callbackAttempted(c.ok)),
    // run.queued here with no free slot here, run.requeued (drain, lost worker) → the other
    // instances claim it now instead of at their next poll of the queue (multi-instance, Redis)
    lifecycle.on('run.queued', () => {
      if (scheduler.executingCount >= config.maxConcurrentRuns) broadcaster?.announceWork();
    }),
    lifecycle.on('run.requeued', () => broadcaster?.announceWork()),
    // run.started → a run that starts without an MCP server's tools is told so, with the reason
    lifecycle.on('run.started', ({ run }) => {
      for (const u of mcp?.unavailable() ?? []) {
        eventLog.emit(run.sessionId, {
          runId: run.id,
          type: 'session.notice',
          data: {
            message: `The MCP server "${u.name}" is unavailable, so its tools (mcp__${u.name}__*) are missing from this run: ${u.error}`,
          },
        });
      }
    }),
  ];

  // ---- the HTTP and WebSocket edge ----------------------------------------------------------
  let accepting = true;
  const deps: ServerDeps = {
    config,
    store,
    logger,
    metrics,
    tracing,
    eventLog,
    sessions,
    approvals,
    version: VERSION,
    startedAt,
    healthChecks: healthChecks({ config, store, sandbox, broadcaster, scheduler, ...(mcp ? { mcp } : {}) }),
    isAccepting: () => accepting,
  };
  metrics.observe(
    'agent_runs_waiting_approval',
    'Runs on this instance stopped at a tool call until an approval is decided (they hold no run slot)',
    () => scheduler.parkedCount,
  );
  const guard = new AccessGuard({
    config,
    audit,
    logger,
    metrics,
    acceptNonce: storeNonceChecker(store, opts.rateLimitClock),
    now: opts.rateLimitClock,
  });
  const dashboard = config.uiEnabled ? createDashboardOf(config, logger) : undefined;
  const app = createApp(deps, {
    apiMiddleware: [apiGuard(guard, config.maxBodyBytes)],
    metricsMiddleware: config.metricsAuth ? [apiGuard(guard, config.maxBodyBytes)] : [],
    routes: [
      workflowRoutes(deps, workflows),
      approvalRoutes(approvals),
      auditRoutes(store),
      ticketRoutes(guard.authenticator.tickets),
      ...(dashboard ? [dashboard.routes] : []),
      statsRoutes((windowS) =>
        buildStats(
          {
            instanceId: config.instanceId,
            recorder: stats,
            resources,
            queueDepth: () => queueByPriority(store),
            runsActive: () => scheduler.activeCount,
            alerts,
          },
          windowS,
        ),
      ),
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
    tracing,
    stats,
    resources,
    lifecycle,
    eventLog,
    scheduler,
    sessions,
    workflows,
    callbacks,
    alerts,
    instances,
    audit,
    guard,
    dashboard,
    app,
    async start() {
      await mcp?.start();
      await instances.start(); // alive before it claims work: the others then know it
      // Nonces of an earlier process stay (a restart must not reopen the replay window); expired ones go.
      await store.pruneNonces(new Date().toISOString());
      if (broadcaster && !(await broadcaster.ready(5_000)))
        logger.warn('redis not reachable yet; live events of other instances are delayed until it is');
      // Slots of spares that died with an earlier process (no session was placed in them) go.
      await workspaces.sweepSlots().catch((err) => logger.warn('spare slot sweep failed', { err }));
      await scheduler.start(); // re-queues the runs of dead workers (expired leases)
      await workflows.recover(); // … and their workflows, if a crash came between the two
      callbacks.start();
      alerts.start();
      resources.start();
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
      // In the background: the first /ui/ request waits for it, nothing else does.
      dashboard?.prepare().catch((err) => logger.error('the dashboard could not be built', { err }));
      runtime.listening = await listen({
        app,
        host: config.host,
        port: config.port,
        onUpgrade: ws.handleUpgrade,
        limits: config,
        logger,
      });
      // Right after listening: the engines' SDKs load now, not in the first run, and the warm
      // spares start (in the background; a run that comes first waits for the same load). The
      // default engine's module loads first and alone: loaded side by side, the two SDKs' imports
      // interleave and the first run waits for both.
      // It starts WARMUP_DELAY_MS after listening: loading an engine holds the event loop for a
      // few hundred ms of module evaluation, and the first health probes (an orchestrator waiting
      // for the new instance) should not wait behind it. A run that comes first loads it itself.
      const warmUp = setTimeout(() => {
        void (created?.[config.engine]?.load() ?? Promise.resolve())
          .catch(() => {}) // warm() below loads it again and reports the failure
          .then(() => {
            if (!accepting) return; // shut down meanwhile: start nothing that would outlive it
            // The JSON Schemas the model sees of the server's tools: converted once, here, not in the first run.
            toAnthropicTools(tools);
            for (const [name, e] of Object.entries(engines))
              e?.warm?.().catch((err) => logger.warn('engine warm-up failed', { engine: name, err }));
          });
      }, WARMUP_DELAY_MS);
      warmUp.unref();
      timers.push(warmUp);
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
        ['alerts', () => alerts.stop()],
        ['instances', () => instances.stop()], // a clean stop: no instance_down alert about it
        ['event log', () => eventLog.flush()],
        ['redis', () => broadcaster?.close()],
        ['websockets', () => ws.close()],
        ['http', () => runtime.listening?.close()],
        ['access guard', () => guard.close()],
        ['dashboard', () => dashboard?.settle()],
        ...Object.entries(engines).map(([name, e]): [string, () => unknown] => [
          `engine ${name}`,
          () => e?.close?.(),
        ]),
        ['mcp', () => mcp?.close()],
        ['git credential proxy', () => gitProxy?.close()],
        ['llm proxy', () => llmProxy?.close()],
        [
          'sandbox',
          () => ('close' in sandbox && typeof sandbox.close === 'function' ? sandbox.close() : undefined),
        ],
        ['audit', () => audit.flush()],
        ['resources', () => resources.close()],
        // After the runs and callbacks: their last spans are exported before the exit.
        ['tracing', () => tracing.shutdown()],
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

/** The dashboard, built from ui/ of this checkout into dist/ui/ (or DATA_DIR/ui/ when that is read-only). */
function createDashboardOf(config: Config, logger: Logger): Dashboard {
  const checkout = fileURLToPath(new URL('../', import.meta.url));
  return createDashboard({
    sourceDir: path.join(checkout, 'ui'),
    lockFile: path.join(checkout, 'package-lock.json'),
    outRoots: [path.join(checkout, 'dist', 'ui'), path.join(config.dataDir, 'ui')],
    logger,
    serverInfo: { authRequired: authConfigured(config), version: VERSION },
  });
}

/** Queued runs (every instance) by priority, named as /api/stats shows them. */
async function queueByPriority(store: Store) {
  const by = await store.countQueuedByPriority();
  let interactive = 0;
  for (const [p, n] of by) if (p >= INTERACTIVE_PRIORITY) interactive += n;
  return {
    interactive,
    high: by.get(PRIORITY_RANK.high) ?? 0,
    medium: by.get(PRIORITY_RANK.medium) ?? 0,
    low: by.get(PRIORITY_RANK.low) ?? 0,
  };
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
