// Configuration: environment variables only (docs/api.md §1). This is the ONE place the process
// environment is read (test/architecture/rules.test.ts checks it); every other module gets its
// settings from Config. Every variable is documented in the README's configuration table (the same
// test compares the two lists).
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type HostAllowList, parseHostAllowList } from './net/allow-hosts.ts';
import type { EngineName } from './protocol/index.ts';
import { McpConfigFile } from './protocol/mcp-config.ts';

/**
 * One MCP server whose tools the agent gets (MCP_CONFIG, and MCP_SERVER_URL as `memory`). A stdio
 * server runs inside the sandbox, one process shared by every session (src/tools/mcp-stdio.ts).
 */
export type McpServerConfig =
  | { name: string; type: 'stdio'; command: string; args: string[]; env: Record<string, string> }
  | { name: string; type: 'http'; url: string; headers: Record<string, string> };

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

/** ALERT_* / TELEGRAM_*: alert destinations and thresholds (0 turns a rule off). */
export interface AlertConfig {
  webhookUrl?: string;
  telegram?: { botToken: string; chatId: string; apiUrl: string };
  /** A rule that fired is not notified again (firing) within this time of its last notification. */
  cooldownMs: number;
  /** How often the periodic rules (queue, disk, memory, instances, windows) are evaluated. */
  evalIntervalMs: number;
  /** The window of the counting rules (run, LLM and callback failures). */
  windowMs: number;
  /** Failed runs in the window. */
  runFailures: number;
  /** Runs failed with an LLM error (llm_error, llm_auth_error, llm_unavailable) in the window; a run that completes resolves it. */
  llmFailures: number;
  /** Failed callback delivery attempts in the window. */
  callbackFailures: number;
  /** Queued runs above this … */
  queueDepth: number;
  /** … for this long. */
  queueDepthForMs: number;
  /** Used percent of the DATA_DIR file system. */
  diskPercent: number;
  /** Used percent of memory (the cgroup limit when there is one, else the machine's). */
  memoryPercent: number;
  /** An instance (PostgreSQL) whose last heartbeat is older than this, without a clean stop. */
  instanceStaleMs: number;
}

/** Trace export (src/observability/tracing.ts), from the standard OTEL_* variables. */
export interface OtelConfig {
  /** Where spans are POSTed; undefined = tracing off. */
  tracesUrl?: string;
  protocol: 'http/protobuf' | 'http/json';
  serviceName: string;
  /** OTEL_EXPORTER_OTLP_HEADERS (+ _TRACES_HEADERS): sent with every export (a collector's credentials). */
  headers: Record<string, string>;
  /** OTEL_BSP_SCHEDULE_DELAY: ms between two exports. */
  scheduleDelayMs: number;
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

/** Resource limits of every sandboxed process (applied by src/sandbox/bwrap/limits.ts). */
export interface SandboxLimits {
  /** RLIMIT_CPU (seconds of CPU per process); 0 = unlimited. */
  cpuSeconds: number;
  /** Memory of the whole process tree (cgroup); 0 = unlimited. */
  memoryBytes: number;
  /** RLIMIT_AS per process; 0 = unlimited; undefined = automatic (off with a memory cgroup, else 2 × memory). */
  addressSpaceBytes?: number;
  /** Processes/threads in the tree (cgroup pids.max, or RLIMIT_NPROC when no cgroup). */
  maxProcesses: number;
  /** RLIMIT_FSIZE (bytes); 0 = unlimited. */
  fileSizeBytes: number;
  /** RLIMIT_NOFILE. */
  openFiles: number;
  /** Size of the private /tmp (and /dev/shm) tmpfs. */
  tmpBytes: number;
  /** Use cgroups when the hierarchy is writable. */
  cgroup: 'auto' | 'off';
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  cpuSeconds: 900,
  memoryBytes: 4 * 1024 ** 3,
  maxProcesses: 512,
  fileSizeBytes: 1024 ** 3,
  openFiles: 4096,
  tmpBytes: 512 * 1024 ** 2,
  cgroup: 'auto',
};

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, def: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min)
    throw new ConfigError(`${name} must be a number ≥ ${min}, got "${raw}"`);
  return Math.floor(n);
}
function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return def;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}
function list(env: Env, name: string): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
/** Comma-separated absolute directories, normalised (symlinks are resolved where they are used). */
function dirList(env: Env, name: string): string[] {
  return list(env, name).map((d) => {
    if (!path.isAbsolute(d)) throw new ConfigError(`${name} entries must be absolute paths, got "${d}"`);
    return path.resolve(d);
  });
}
/** A non-negative decimal number (e.g. dollars), or undefined when unset. */
function optNumber(env: Env, name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > max)
    throw new ConfigError(`${name} must be a number between 0 and ${max}, got "${raw}"`);
  return n;
}
function optInt(env: Env, name: string): number | undefined {
  const n = optNumber(env, name);
  if (n !== undefined && !Number.isInteger(n))
    throw new ConfigError(`${name} must be a whole number, got "${env[name]}"`);
  return n;
}
const MB = 1024 * 1024;

/** A whole number in [0, max], or undefined for unset / `auto` (the server decides). */
function autoInt(env: Env, name: string, max: number): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '' || raw.toLowerCase() === 'auto') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max)
    throw new ConfigError(`${name} must be "auto" or a whole number from 0 to ${max}, got "${raw}"`);
  return n;
}

function opt(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** Anthropic beta names (the LLM proxy also refuses the ones that let the API act for the agent). */
function betaList(env: Env, name: string): string[] {
  const betas = list(env, name);
  for (const b of betas) {
    if (!/^[a-z0-9][a-z0-9.-]{0,99}$/.test(b)) throw new ConfigError(`${name}: "${b}" is not a beta name`);
  }
  return betas;
}

export class ConfigError extends Error {}

/** SANDBOX_* limits. Blank values mean "default" for these names. */
function sandboxLimits(raw: Env): SandboxLimits {
  const env: Env = Object.fromEntries(
    Object.entries(raw).filter(([, v]) => v !== undefined && v.trim() !== ''),
  );
  const D = DEFAULT_SANDBOX_LIMITS;
  const cgroup = (opt(env, 'SANDBOX_CGROUP') ?? 'auto').trim();
  if (cgroup !== 'auto' && cgroup !== 'off')
    throw new ConfigError(`SANDBOX_CGROUP must be "auto" or "off", got "${cgroup}"`);
  const addressSpace = opt(env, 'SANDBOX_ADDRESS_SPACE_BYTES');
  return {
    cpuSeconds: int(env, 'SANDBOX_CPU_SECONDS', D.cpuSeconds, 0),
    memoryBytes: int(env, 'SANDBOX_MEMORY_BYTES', D.memoryBytes, 0),
    maxProcesses: int(env, 'SANDBOX_MAX_PROCESSES', D.maxProcesses, 8),
    fileSizeBytes: int(env, 'SANDBOX_MAX_FILE_BYTES', D.fileSizeBytes, 0),
    openFiles: int(env, 'SANDBOX_MAX_OPEN_FILES', D.openFiles, 64),
    tmpBytes: int(env, 'SANDBOX_TMP_BYTES', D.tmpBytes, 1024 ** 2),
    cgroup,
    ...(addressSpace === undefined
      ? {}
      : { addressSpaceBytes: int(env, 'SANDBOX_ADDRESS_SPACE_BYTES', 0, 0) }),
  };
}

function allowHosts(env: Env, name: string): HostAllowList {
  try {
    return parseHostAllowList(list(env, name), name);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/** `1.2.3.4`, `::1`, `10.0.0.0/8`, `fd00::/8` (syntax only; used to validate TRUST_PROXY). */
function isIpOrCidr(s: string): boolean {
  const [addr, bits, ...rest] = s.split('/');
  if (rest.length > 0 || addr === undefined) return false;
  const family = net.isIP(addr);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/** `http(s)://host[:port]` with no path, query, credentials: the base of GitHub's git remotes. */
function gitBaseUrl(env: Env, name: string, def: string): string {
  const raw = (opt(env, name) ?? def).replace(/\/+$/, '');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL like https://github.com, got "${raw}"`);
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password || u.search || u.hash)
    throw new ConfigError(`${name} must be an http(s) URL without credentials or query, got "${raw}"`);
  if (u.pathname !== '/' && u.pathname !== '')
    throw new ConfigError(`${name} must not have a path, got "${raw}"`);
  return `${u.protocol}//${u.host}`;
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

const MCP_NAME = /^[A-Za-z0-9_-]{1,32}$/;

/** `${VAR}` and `${VAR:-default}` from the environment, as Claude Code's .mcp.json expands them. */
function expandVars(value: string, env: Env, where: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, def?: string) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (def !== undefined) return def;
    throw new ConfigError(`MCP_CONFIG: ${where} uses \${${name}}, which is not set`);
  });
}

/** MCP_CONFIG (a JSON file in the `mcpServers` format) plus MCP_SERVER_URL as the server `memory`. */
function mcpServers(env: Env): McpServerConfig[] {
  const out: McpServerConfig[] = [];
  const file = opt(env, 'MCP_CONFIG');
  if (file) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`MCP_CONFIG: cannot read ${file} as JSON: ${(err as Error).message}`);
    }
    const parsed = McpConfigFile.safeParse(raw);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`);
      throw new ConfigError(`MCP_CONFIG: ${file} is not a valid mcpServers file: ${issues.join('; ')}`);
    }
    for (const [name, entry] of Object.entries(parsed.data.mcpServers)) {
      const where = `server "${name}"`;
      if (!MCP_NAME.test(name) || name.includes('__'))
        throw new ConfigError(`MCP_CONFIG: ${where}: names are 1-32 of [A-Za-z0-9_-] without "__"`);
      // `server` carries the server's own tools into Claude Code (mcp__server__git).
      if (name === 'server') throw new ConfigError(`MCP_CONFIG: ${where}: the name "server" is reserved`);
      const x = (v: string, field: string) => expandVars(v, env, `${where} ${field}`);
      if ('url' in entry) {
        const url = x(entry.url, 'url');
        if (!/^https?:\/\/[^\s]+$/i.test(url) || !URL.canParse(url))
          throw new ConfigError(`MCP_CONFIG: ${where}: url must be an http(s) URL`);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(entry.headers ?? {})) {
          if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(k))
            throw new ConfigError(`MCP_CONFIG: ${where}: bad header "${k}"`);
          const value = x(v, `header ${k}`);
          if (/[\r\n\0]/.test(value))
            throw new ConfigError(`MCP_CONFIG: ${where}: header ${k} has a line break`);
          headers[k] = value;
        }
        out.push({ name, type: 'http', url, headers });
      } else {
        const envOut: Record<string, string> = {};
        for (const [k, v] of Object.entries(entry.env ?? {})) {
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
            throw new ConfigError(`MCP_CONFIG: ${where}: bad env name "${k}"`);
          envOut[k] = x(v, `env ${k}`);
        }
        out.push({
          name,
          type: 'stdio',
          command: x(entry.command, 'command'),
          args: (entry.args ?? []).map((a, i) => x(a, `args[${i}]`)),
          env: envOut,
        });
      }
    }
  }
  const url = opt(env, 'MCP_SERVER_URL');
  if (url) {
    if (out.some((s) => s.name === 'memory'))
      throw new ConfigError('MCP_CONFIG defines "memory", which MCP_SERVER_URL already names');
    const token = opt(env, 'MCP_AUTH_TOKEN');
    out.push({
      name: 'memory',
      type: 'http',
      url,
      headers: token ? { Authorization: `Bearer ${token}` } : {},
    });
  }
  return out;
}

/** `k1=v1,k2=v2` with URL-encoded values (the OTEL_EXPORTER_OTLP_HEADERS format). */
function otlpHeaders(env: Env, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of list(env, name)) {
    const i = pair.indexOf('=');
    const key = i > 0 ? pair.slice(0, i).trim() : '';
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(key))
      throw new ConfigError(`${name} must be a comma list of key=value pairs`);
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(i + 1).trim());
    } catch {
      throw new ConfigError(`${name}: the value of "${key}" is not URL-encoded`);
    }
    if (/[\r\n]/.test(value)) throw new ConfigError(`${name}: the value of "${key}" has a line break`);
    out[key] = value;
  }
  return out;
}

/** pino redact paths: dotted names, `*` wildcards and bracketed keys. */
function redactPaths(env: Env, name: string): string[] {
  const paths = list(env, name);
  const bad = paths.find(
    (p) =>
      !/^(?:[A-Za-z_$*][\w$*]*|\[(?:"[^"]+"|'[^']+'|\*)\])(?:\.[A-Za-z_$*][\w$*]*|\[(?:"[^"]+"|'[^']+'|\*)\])*$/.test(
        p,
      ),
  );
  if (bad !== undefined)
    throw new ConfigError(
      `${name}: "${bad}" is not a field path (e.g. payload.password, *.token, headers["x-key"])`,
    );
  return paths;
}

function otlpUrl(env: Env, name: string): string | undefined {
  const raw = opt(env, name)?.trim();
  if (raw === undefined || raw === '') return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ConfigError(`${name} must be an http(s) URL (OTLP over HTTP), got "${raw}"`);
  return u.toString();
}

/** The standard OTEL_* variables this server honours (traces over OTLP/HTTP only). */
function otelConfig(env: Env): OtelConfig {
  const disabled = bool(env, 'OTEL_SDK_DISABLED', false);
  const tracesEndpoint = otlpUrl(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const base = otlpUrl(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  // The generic endpoint gets the signal path appended; the per-signal one is used as is.
  const tracesUrl = tracesEndpoint ?? (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  const protocol =
    opt(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ??
    opt(env, 'OTEL_EXPORTER_OTLP_PROTOCOL') ??
    'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json')
    throw new ConfigError(
      `OTEL_EXPORTER_OTLP_PROTOCOL must be "http/protobuf" or "http/json" (gRPC is not supported), got "${protocol}"`,
    );
  return {
    ...(tracesUrl && !disabled ? { tracesUrl } : {}),
    protocol,
    serviceName: opt(env, 'OTEL_SERVICE_NAME') ?? 'duyetbot-agent-server',
    headers: {
      ...otlpHeaders(env, 'OTEL_EXPORTER_OTLP_HEADERS'),
      ...otlpHeaders(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'),
    },
    scheduleDelayMs: int(env, 'OTEL_BSP_SCHEDULE_DELAY', 5_000, 1),
  };
}

export const DEFAULT_MODEL = 'claude-sonnet-4-6';

function httpUrl(env: Env, name: string): string | undefined {
  const raw = opt(env, name);
  if (raw === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, '');
}

function percent(env: Env, name: string, def: number): number {
  const v = int(env, name, def, 0);
  if (v > 100) throw new ConfigError(`${name} must be a percentage 0–100 (0 = off), got "${env[name]}"`);
  return v;
}

function alertConfig(env: Env): AlertConfig {
  const botToken = opt(env, 'TELEGRAM_BOT_TOKEN');
  const chatId = opt(env, 'TELEGRAM_CHAT_ID');
  if (Boolean(botToken) !== Boolean(chatId))
    throw new ConfigError('TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID must be set together');
  // The token goes into the Bot API's URL path: refuse anything that could change the path.
  if (botToken && !/^[A-Za-z0-9:_-]{1,200}$/.test(botToken))
    throw new ConfigError(
      'TELEGRAM_BOT_TOKEN must look like 123456:ABC-def (letters, digits, ":", "_", "-")',
    );
  const apiUrl = httpUrl(env, 'TELEGRAM_API_URL') ?? 'https://api.telegram.org';
  return {
    webhookUrl: httpUrl(env, 'ALERT_WEBHOOK_URL'),
    ...(botToken && chatId ? { telegram: { botToken, chatId, apiUrl } } : {}),
    cooldownMs: int(env, 'ALERT_COOLDOWN_MS', 900_000, 0),
    evalIntervalMs: int(env, 'ALERT_EVAL_INTERVAL_MS', 15_000, 50),
    windowMs: int(env, 'ALERT_WINDOW_MS', 600_000, 1000),
    runFailures: int(env, 'ALERT_RUN_FAILURES', 5, 0),
    llmFailures: int(env, 'ALERT_LLM_FAILURES', 3, 0),
    callbackFailures: int(env, 'ALERT_CALLBACK_FAILURES', 10, 0),
    queueDepth: int(env, 'ALERT_QUEUE_DEPTH', 100, 0),
    queueDepthForMs: int(env, 'ALERT_QUEUE_DEPTH_FOR_MS', 300_000, 0),
    diskPercent: percent(env, 'ALERT_DISK_PERCENT', 90),
    memoryPercent: percent(env, 'ALERT_MEMORY_PERCENT', 90),
    instanceStaleMs: int(env, 'ALERT_INSTANCE_STALE_MS', 60_000, 1000),
  };
}

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
