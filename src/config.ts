// Configuration: environment variables only (docs/api.md §1). This is the ONE place the process
// environment is read (test/architecture/rules.test.ts checks it); every other module gets its
// settings from Config. Every variable is documented in the README's configuration table (the same
// test compares the two lists).
import os from 'node:os';
import path from 'node:path';
import { type AlertConfig, alertConfig } from './config/alerts.ts';
import { type McpServerConfig, mcpServers } from './config/mcp.ts';
import {
  allowHosts,
  autoInt,
  betaList,
  bool,
  ConfigError,
  dirList,
  type Env,
  gitBaseUrl,
  int,
  isIpOrCidr,
  list,
  MB,
  opt,
  optInt,
  optNumber,
} from './config/parse.ts';
import { type SandboxLimits, sandboxLimits } from './config/sandbox.ts';
import { type OtelConfig, otelConfig, redactPaths } from './config/telemetry.ts';
import type { HostAllowList } from './net/allow-hosts.ts';
import type { EngineName } from './protocol/index.ts';

export type { AlertConfig } from './config/alerts.ts';
export type { McpServerConfig } from './config/mcp.ts';
export { ConfigError } from './config/parse.ts';
export { DEFAULT_SANDBOX_LIMITS, type SandboxLimits } from './config/sandbox.ts';
export type { OtelConfig } from './config/telemetry.ts';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl?: string;
  redisUrl?: string;
  anthropicApiKey?: string;
  anthropicBaseUrl: string;
  engine: EngineName;
  model: string;
  apiKeys: string[];
  signingSecret?: string;
  mcpServerUrl?: string;
  mcpAuthToken?: string;
  /** MCP_CONFIG's servers, then MCP_SERVER_URL's (named `memory`). */
  mcpServers: McpServerConfig[];
  maxConcurrentRuns: number;
  allowFileRepos: boolean;
  /** Real directories under which local repositories may be cloned/fetched/pulled/pushed (besides a session's own origin). */
  fileRepoRoots: string[];
  gitAuthorName: string;
  gitAuthorEmail: string;
  githubToken?: string;
  githubApiUrl: string;
  /** GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY: a GitHub App whose installation tokens replace GITHUB_TOKEN. */
  githubApp?: { appId: string; privateKey: string };
  /**
   * GITHUB_GIT_URL: where GitHub's git repositories live (`<url>/<owner>/<repo>(.git)`); remotes
   * there get GitHub credentials through the server's git credential proxy. A plain-http or
   * loopback URL is accepted as a repository URL because the operator configured it (tests, mirrors).
   */
  githubGitUrl: string;
  maxTurns: number;
  maxBodyBytes: number;
  toolOutputLimit: number;
  bashTimeoutMs: number;
  shutdownGraceMs: number;
  leaseMs: number;
  workflowTimeoutMs: number;
  workflowMaxAttempts: number;
  workspaceRetentionMs: number;
  workspaceQuotaBytes: number;
  workspaceQuotaIntervalMs: number;
  callbackMaxAgeMs: number;
  callbackRetryBaseMs: number;
  callbackRetryMaxMs: number;
  /**
   * CALLBACK_ALLOW_HOSTS: destinations a callbackUrl (or alert webhook) may reach although they are
   * loopback/private/link-local/metadata — host names (exact), IPs, CIDRs. Default none.
   */
  callbackAllowHosts: HostAllowList;
  metricsAuth: boolean;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** LOG_PRETTY: human-readable lines (pino-pretty) instead of JSON, for a terminal. */
  logPretty: boolean;
  /** LOG_REDACT: extra pino redact paths (e.g. `payload.password`), censored in every line. */
  logRedact: string[];
  /** STATS_MAX_SAMPLES: observations kept per /api/stats series (runs, workflows, tools, model calls). */
  statsMaxSamples: number;
  /** WORKSPACE_USAGE_INTERVAL_MS: how often all workspaces are measured for stats and metrics; 0 = never. */
  workspaceUsageIntervalMs: number;
  /** OTEL_*: traces over OTLP/HTTP (docs/api.md §11); off without an endpoint. */
  otel: OtelConfig;
  sandbox: 'bwrap' | 'none';
  sandboxNetwork: string[];
  /** SANDBOX_SECCOMP (default on): the seccomp filter of sandboxed processes. */
  sandboxSeccomp: boolean;
  /** Tunnels one session's sandboxes may hold open through the egress proxy at once. */
  sandboxEgressMaxTunnels: number;
  /** An egress tunnel idle for this long is closed. */
  sandboxEgressIdleMs: number;
  /** Root server: first of the host uids given to sessions (the first one is the self-test's). */
  sandboxUidBase: number;
  sandboxUidCount: number;
  /** Root server: the group of every sandboxed process. */
  sandboxGid: number;
  instanceId: string;
  rateLimitPerMinute: number;
  rateLimitBurst: number;
  rateLimitIpPerMinute: number;
  authFailuresPerMinute: number;
  maxWsPerCredential: number;
  claudeMaxProcesses: number;
  /**
   * CLAUDE_SPARES: warm Claude Code processes kept started in the sandbox for new sessions' first
   * runs (src/agent/claude-code/spares.ts); undefined = sized to the free memory at start-up.
   */
  claudeSpares: number | undefined;
  /** CLAUDE_SPARES_READY: how many of them are claimed ahead (runs without a repository); undefined = half, rounded up. */
  claudeSparesReady: number | undefined;
  /** Trusted reverse proxies (IPs/CIDRs): behind one, the client address comes from X-Forwarded-For. */
  trustProxy: string[];
  /** Deadline for receiving a whole request (headers and body); SSE responses are not affected. */
  requestTimeoutMs: number;
  /** Deadline for receiving a request's headers (≤ requestTimeoutMs). */
  headersTimeoutMs: number;
  /** Cap on open client connections (HTTP, SSE and WebSocket together); 0 = no cap. */
  maxConnections: number;
  /** Bytes of `tool.output` stored/streamed per tool call; the rest is dropped with a notice. */
  toolStreamLimitBytes: number;
  /** Bytes of `tool.output` stored/streamed per run (all tool calls together). */
  runStreamLimitBytes: number;
  /** LLM proxy of the claude-code engine (src/security/llm-proxy.ts) */
  llmProxyMaxBodyBytes: number;
  llmProxyAllowBetas: string[];
  llmProxyMaxConcurrent: number;
  llmProxyRequestTimeoutMs: number;
  llmProxyIdleTimeoutMs: number;
  /** SANDBOX_CPU_SECONDS … SANDBOX_CGROUP: resource limits of sandboxed processes (sandbox/bwrap/limits.ts). */
  sandboxLimits: SandboxLimits;
  /** SANDBOX_RO_BIND: extra host paths bound read-only into every sandbox (checked when the sandbox starts). */
  sandboxRoBind: string[];
  /** BWRAP_PATH: the bubblewrap binary; unset = `bwrap` found on `hostPath` or in the usual places. */
  bwrapPath?: string;
  /** PATH of the server process: where `bwrap` is looked for. Sandboxed processes never inherit it. */
  hostPath: string[];
  /** CLAUDE_ALLOW_TOOLS: extra Claude Code built-ins the claude-code engine allows (e.g. WebFetch). */
  claudeAllowTools: string[];
  /** CLAUDE_DENY_TOOLS: Claude Code tools never allowed (built-in or full MCP names); wins over everything. */
  claudeDenyTools: string[];
  /** Budgets (docs/api.md §10): server-wide caps per session/workflow and per API key per UTC day. */
  budgets: BudgetConfig;
  /** MAX_RUNS_PER_KEY: running runs one credential may have at once (all instances); 0 = no cap. */
  maxRunsPerKey: number;
  /** Memory admission: runs are claimed only while free memory minus the reserve covers them. */
  admission: AdmissionConfig;
  /** UI_ENABLED (default on): the dashboard at /ui/ (docs/api.md §12), built from ui/ when missing or stale. */
  uiEnabled: boolean;
  /** Alerts (docs/api.md §11): where they go and when they fire. */
  alerts: AlertConfig;
  /** INSTANCE_HEARTBEAT_MS: how often this instance records that it is alive (instance_down alert). */
  instanceHeartbeatMs: number;
}

/** Server-wide budgets; undefined = none. A session's or workflow's own budget may only be lower. */
export interface BudgetConfig {
  /** BUDGET_MAX_COST_USD / BUDGET_MAX_TOKENS: most one session (all its runs) or workflow may spend. */
  maxCostUsd?: number;
  maxTokens?: number;
  /** BUDGET_DAILY_COST_USD_PER_KEY / BUDGET_DAILY_TOKENS_PER_KEY: most one credential may spend per UTC day. */
  dailyCostUsdPerKey?: number;
  dailyTokensPerKey?: number;
}

export interface AdmissionConfig {
  /** RUN_MEMORY_ESTIMATE_CLAUDE_MB / RUN_MEMORY_ESTIMATE_NATIVE_MB: what one run of the engine costs. */
  estimateBytes: Record<EngineName, number>;
  /** RUN_MEMORY_RESERVE_MB: memory kept free for the server, the database and everything else. */
  reserveBytes: number;
}

function githubApp(env: Env): Config['githubApp'] {
  const appId = opt(env, 'GITHUB_APP_ID');
  // Env files often carry a PEM on one line with literal "\n".
  const key = opt(env, 'GITHUB_APP_PRIVATE_KEY')?.replace(/\\n/g, '\n');
  if (!appId && !key) return undefined;
  if (!appId || !key) throw new ConfigError('GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY must be set together');
  if (!/^\d{1,20}$/.test(appId)) throw new ConfigError(`GITHUB_APP_ID must be a number, got "${appId}"`);
  if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(key))
    throw new ConfigError("GITHUB_APP_PRIVATE_KEY must be the PEM of the App's private key");
  return { appId, privateKey: key };
}

export const DEFAULT_MODEL = 'claude-sonnet-4-6';

export function loadConfig(env: Env = process.env): Config {
  const engine = (opt(env, 'AGENT_ENGINE') ?? 'claude-code') as EngineName;
  if (engine !== 'native' && engine !== 'claude-code') {
    throw new ConfigError(`AGENT_ENGINE must be "claude-code" or "native", got "${engine}"`);
  }
  const sandbox = (opt(env, 'SANDBOX') ?? 'bwrap') as Config['sandbox'];
  if (sandbox !== 'bwrap' && sandbox !== 'none') throw new ConfigError(`SANDBOX must be "bwrap" or "none"`);
  const logLevel = (opt(env, 'LOG_LEVEL') ?? 'info') as Config['logLevel'];
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel))
    throw new ConfigError('LOG_LEVEL must be debug|info|warn|error');
  const rateLimitPerMinute = int(env, 'RATE_LIMIT_PER_MINUTE', 600, 1);
  const sandboxUidBase = int(env, 'SANDBOX_UID_BASE', 1_000_000, 1000);
  if (sandboxUidBase + int(env, 'SANDBOX_UID_COUNT', 65_536, 2) > 2 ** 31)
    throw new ConfigError('SANDBOX_UID_BASE + SANDBOX_UID_COUNT must stay below 2^31');
  const requestTimeoutMs = int(env, 'REQUEST_TIMEOUT_MS', 30_000, 100);
  const headersTimeoutMs = int(env, 'HEADERS_TIMEOUT_MS', Math.min(20_000, requestTimeoutMs), 100);
  if (headersTimeoutMs > requestTimeoutMs)
    throw new ConfigError(
      `HEADERS_TIMEOUT_MS (${headersTimeoutMs}) must not exceed REQUEST_TIMEOUT_MS (${requestTimeoutMs})`,
    );
  const toolStreamLimitBytes = int(env, 'TOOL_STREAM_LIMIT_BYTES', 1024 ** 2, 1024);
  const runStreamLimitBytes = int(env, 'RUN_STREAM_LIMIT_BYTES', 32 * 1024 ** 2, 1024);
  const trustProxy = list(env, 'TRUST_PROXY');
  const badProxy = trustProxy.find((p) => !isIpOrCidr(p));
  if (badProxy !== undefined)
    throw new ConfigError(`TRUST_PROXY must be a comma list of IP addresses or CIDRs, got "${badProxy}"`);
  const alerts = alertConfig(env);
  const instanceHeartbeatMs = int(env, 'INSTANCE_HEARTBEAT_MS', 10_000, 100);
  if (instanceHeartbeatMs * 2 > alerts.instanceStaleMs)
    throw new ConfigError(
      `ALERT_INSTANCE_STALE_MS (${alerts.instanceStaleMs}) must be at least twice INSTANCE_HEARTBEAT_MS (${instanceHeartbeatMs})`,
    );
  return {
    port: int(env, 'PORT', 3003),
    host: opt(env, 'HOST') ?? '127.0.0.1',
    dataDir: path.resolve(opt(env, 'DATA_DIR') ?? './data'),
    databaseUrl: opt(env, 'DATABASE_URL'),
    redisUrl: opt(env, 'REDIS_URL'),
    anthropicApiKey: opt(env, 'ANTHROPIC_API_KEY'),
    anthropicBaseUrl: opt(env, 'ANTHROPIC_BASE_URL') ?? 'https://api.anthropic.com',
    engine,
    model: opt(env, 'AGENT_MODEL') ?? DEFAULT_MODEL,
    apiKeys: list(env, 'API_KEYS'),
    signingSecret: opt(env, 'SIGNING_SECRET'),
    mcpServerUrl: opt(env, 'MCP_SERVER_URL'),
    mcpAuthToken: opt(env, 'MCP_AUTH_TOKEN'),
    mcpServers: mcpServers(env),
    maxConcurrentRuns: int(env, 'MAX_CONCURRENT_RUNS', Math.max(2, os.availableParallelism() * 4), 1),
    allowFileRepos: bool(env, 'ALLOW_FILE_REPOS', false),
    fileRepoRoots: dirList(env, 'FILE_REPO_ROOTS'),
    gitAuthorName: opt(env, 'GIT_AUTHOR_NAME') ?? 'duyetbot',
    gitAuthorEmail: opt(env, 'GIT_AUTHOR_EMAIL') ?? 'duyetbot@users.noreply.github.com',
    githubToken: opt(env, 'GITHUB_TOKEN'),
    githubApiUrl: opt(env, 'GITHUB_API_URL') ?? 'https://api.github.com',
    githubApp: githubApp(env),
    githubGitUrl: gitBaseUrl(env, 'GITHUB_GIT_URL', 'https://github.com'),
    maxTurns: int(env, 'AGENT_MAX_TURNS', 50, 1),
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 1_048_576, 1024),
    toolOutputLimit: int(env, 'TOOL_OUTPUT_LIMIT', 30_000, 1024),
    bashTimeoutMs: int(env, 'BASH_TIMEOUT_MS', 300_000, 1),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 30_000),
    leaseMs: int(env, 'RUN_LEASE_MS', 30_000, 1000),
    workflowTimeoutMs: int(env, 'WORKFLOW_TIMEOUT_MS', 2 * 3600_000, 1000),
    workflowMaxAttempts: int(env, 'WORKFLOW_MAX_ATTEMPTS', 3, 1),
    workspaceRetentionMs: int(env, 'WORKSPACE_RETENTION_MS', 24 * 3600_000),
    workspaceQuotaBytes: int(env, 'WORKSPACE_QUOTA_BYTES', 10 * 1024 ** 3),
    workspaceQuotaIntervalMs: int(env, 'WORKSPACE_QUOTA_INTERVAL_MS', 5_000, 50),
    callbackMaxAgeMs: int(env, 'CALLBACK_MAX_AGE_MS', 48 * 3600_000, 1000),
    callbackRetryBaseMs: int(env, 'CALLBACK_RETRY_BASE_MS', 1_000, 10),
    callbackRetryMaxMs: int(env, 'CALLBACK_RETRY_MAX_MS', 3_600_000, 10),
    callbackAllowHosts: allowHosts(env, 'CALLBACK_ALLOW_HOSTS'),
    metricsAuth: bool(env, 'METRICS_AUTH', false),
    logLevel,
    logPretty: bool(env, 'LOG_PRETTY', false),
    logRedact: redactPaths(env, 'LOG_REDACT'),
    statsMaxSamples: int(env, 'STATS_MAX_SAMPLES', 10_000, 100),
    workspaceUsageIntervalMs: int(env, 'WORKSPACE_USAGE_INTERVAL_MS', 300_000, 0),
    otel: otelConfig(env),
    sandbox,
    sandboxNetwork: list(env, 'SANDBOX_NETWORK_ALLOW'),
    sandboxSeccomp: bool(env, 'SANDBOX_SECCOMP', true),
    sandboxEgressMaxTunnels: int(env, 'SANDBOX_EGRESS_MAX_TUNNELS', 64, 1),
    sandboxEgressIdleMs: int(env, 'SANDBOX_EGRESS_IDLE_MS', 300_000, 1000),
    sandboxUidBase,
    sandboxUidCount: int(env, 'SANDBOX_UID_COUNT', 65_536, 2),
    sandboxGid: int(env, 'SANDBOX_GID', sandboxUidBase, 1),
    instanceId: opt(env, 'INSTANCE_ID') ?? `${os.hostname()}-${process.pid}`,
    rateLimitPerMinute,
    rateLimitBurst: int(env, 'RATE_LIMIT_BURST', rateLimitPerMinute, 1),
    rateLimitIpPerMinute: int(env, 'RATE_LIMIT_IP_PER_MINUTE', 2 * rateLimitPerMinute, 1),
    authFailuresPerMinute: int(env, 'AUTH_FAILURES_PER_MINUTE', 30, 1),
    maxWsPerCredential: int(env, 'MAX_WS_PER_CREDENTIAL', 100, 1),
    claudeMaxProcesses: int(env, 'CLAUDE_MAX_PROCESSES', 8, 1),
    claudeSpares: autoInt(env, 'CLAUDE_SPARES', 64),
    claudeSparesReady: autoInt(env, 'CLAUDE_SPARES_READY', 64),
    trustProxy,
    requestTimeoutMs,
    headersTimeoutMs,
    maxConnections: int(env, 'MAX_CONNECTIONS', 10_000),
    toolStreamLimitBytes,
    runStreamLimitBytes,
    llmProxyMaxBodyBytes: int(env, 'LLM_PROXY_MAX_BODY_BYTES', 32 * 1024 * 1024, 1024),
    llmProxyAllowBetas: betaList(env, 'LLM_PROXY_ALLOW_BETAS'),
    llmProxyMaxConcurrent: int(env, 'LLM_PROXY_MAX_CONCURRENT', 8, 1),
    llmProxyRequestTimeoutMs: int(env, 'LLM_PROXY_REQUEST_TIMEOUT_MS', 30_000, 100),
    llmProxyIdleTimeoutMs: int(env, 'LLM_PROXY_IDLE_TIMEOUT_MS', 600_000, 1000),
    sandboxLimits: sandboxLimits(env),
    sandboxRoBind: list(env, 'SANDBOX_RO_BIND'),
    bwrapPath: opt(env, 'BWRAP_PATH')?.trim() || undefined,
    hostPath: (env.PATH ?? '').split(':').filter(Boolean),
    claudeAllowTools: list(env, 'CLAUDE_ALLOW_TOOLS'),
    claudeDenyTools: list(env, 'CLAUDE_DENY_TOOLS'),
    uiEnabled: bool(env, 'UI_ENABLED', true),
    alerts,
    instanceHeartbeatMs,
    budgets: {
      maxCostUsd: optNumber(env, 'BUDGET_MAX_COST_USD', 1_000_000),
      maxTokens: optInt(env, 'BUDGET_MAX_TOKENS'),
      dailyCostUsdPerKey: optNumber(env, 'BUDGET_DAILY_COST_USD_PER_KEY', 1_000_000),
      dailyTokensPerKey: optInt(env, 'BUDGET_DAILY_TOKENS_PER_KEY'),
    },
    maxRunsPerKey: int(env, 'MAX_RUNS_PER_KEY', 0),
    admission: {
      estimateBytes: {
        'claude-code': int(env, 'RUN_MEMORY_ESTIMATE_CLAUDE_MB', 240) * MB,
        native: int(env, 'RUN_MEMORY_ESTIMATE_NATIVE_MB', 32) * MB,
      },
      reserveBytes: int(env, 'RUN_MEMORY_RESERVE_MB', 256) * MB,
    },
  };
}
