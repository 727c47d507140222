// Bridge to a remote MCP server (docs/api.md §9 "Tools of configured MCP servers", e.g. the Memory
// MCP): its tools become server `Tool`s named `mcp__<server>__<tool>`. Streamable HTTP first, the
// older HTTP+SSE transport as a fallback. The bearer token stays in this process.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport, SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Logger } from '../observability/logger.ts';
import type { Tool, ToolContext, ToolResult } from './types.ts';

export interface McpConnectOptions {
  /** Streamable HTTP (SSE fallback) endpoint; ignored when `transport` is given. */
  url: string;
  authToken?: string;
  /** Extra request headers (MCP_CONFIG `headers`, e.g. Authorization); their values are scrubbed. */
  headers?: Record<string, string>;
  /** Another transport (a sandboxed stdio server): used instead of HTTP. */
  transport?: () => Transport;
  /** Called once when an established connection is lost (not on close()). */
  onLost?: () => void;
  /** Server label used in tool names (`mcp__<name>__<tool>`). */
  name?: string;
  logger: Logger;
  /** Per-call timeout (ms); progress notifications from the server extend it. Default 120 s. */
  callTimeoutMs?: number;
  /** Connect + initialize + list tools timeout (ms). Default 10 s. */
  connectTimeoutMs?: number;
  /** Tool output is cut to this many characters. Default 30 000. */
  outputLimit?: number;
}

export interface McpConnection {
  tools: Tool[];
  /** False when the connection failed (then `tools` is empty) or was lost since. */
  readonly connected: boolean;
  /** Why it failed, when it did (scrubbed). */
  readonly error?: string;
  close(): Promise<void>;
}

type RemoteTool = Awaited<ReturnType<Client['listTools']>>['tools'][number];
type McpInput = Record<string, unknown>;

const CLIENT_INFO = { name: 'duyetbot-agent-server', version: '1' };
const MAX_NAME = 64;
const MAX_DESCRIPTION = 4000;

/** `mcp__<server>__<tool>` restricted to [a-zA-Z0-9_-] and at most 64 characters. */
export function mcpToolName(server: string, tool: string): string {
  return `mcp__${server}__${tool}`.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, MAX_NAME);
}

/** The URL without credentials, query or fragment: safe for logs. */
function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

function errMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const code = err instanceof StreamableHTTPError || err instanceof SseError ? err.code : undefined;
  return typeof code === 'number' && code > 0 ? `HTTP ${code}: ${msg}` : msg;
}

/** True when the server refused our credentials: no point trying another transport. */
function isAuthFailure(err: unknown): boolean {
  const code = err instanceof StreamableHTTPError || err instanceof SseError ? err.code : undefined;
  return code === 401 || code === 403;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Text of an MCP tool result: text parts as-is, other parts as short placeholders. */
export function flattenMcpContent(result: Record<string, unknown>): string {
  const parts: string[] = [];
  const content = Array.isArray(result.content) ? (result.content as Array<Record<string, unknown>>) : [];
  for (const c of content) {
    switch (c.type) {
      case 'text':
        parts.push(String(c.text ?? ''));
        break;
      case 'image':
      case 'audio':
        parts.push(`[${c.type}${typeof c.mimeType === 'string' ? `: ${c.mimeType}` : ''}]`);
        break;
      case 'resource': {
        const r = (c.resource ?? {}) as Record<string, unknown>;
        parts.push(typeof r.text === 'string' ? r.text : `[resource: ${String(r.uri ?? '?')}]`);
        break;
      }
      case 'resource_link':
        parts.push(
          `[resource link: ${String(c.uri ?? '?')}${typeof c.name === 'string' ? ` (${c.name})` : ''}]`,
        );
        break;
      default:
        parts.push(JSON.stringify(c));
    }
  }
  if (parts.length === 0 && result.structuredContent !== undefined)
    parts.push(JSON.stringify(result.structuredContent));
  // Legacy (protocol 2024-10-07) result shape.
  if (parts.length === 0 && result.toolResult !== undefined) parts.push(JSON.stringify(result.toolResult));
  return parts.join('\n');
}

async function openClient(
  opts: McpConnectOptions,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<{ client: Client; transport: Transport; kind: 'streamable-http' | 'sse' | 'stdio' }> {
  if (opts.transport) {
    const transport = opts.transport();
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    try {
      await withTimeout(client.connect(transport, { timeout: timeoutMs }), timeoutMs, 'MCP connect');
      return { client, transport, kind: 'stdio' };
    } catch (err) {
      await client.close().catch(() => {});
      throw err;
    }
  }
  const url = new URL(opts.url);
  const attempt = async (kind: 'streamable-http' | 'sse') => {
    const transport: Transport =
      kind === 'streamable-http'
        ? new StreamableHTTPClientTransport(url, { requestInit: { headers } })
        : new SSEClientTransport(url, { requestInit: { headers } });
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    try {
      await withTimeout(client.connect(transport, { timeout: timeoutMs }), timeoutMs, 'MCP connect');
      return { client, transport, kind };
    } catch (err) {
      // Stops an SSE EventSource from reconnecting, aborts pending requests.
      await client.close().catch(() => {});
      throw err;
    }
  };
  try {
    return await attempt('streamable-http');
  } catch (err) {
    if (isAuthFailure(err)) throw err;
    opts.logger.debug('MCP streamable HTTP connect failed; trying SSE', {
      mcp: opts.name,
      err: errMessage(err),
    });
    try {
      return await attempt('sse');
    } catch (sseErr) {
      // Report the primary transport's error unless SSE says something more useful (auth).
      throw isAuthFailure(sseErr) ? sseErr : err;
    }
  }
}

/**
 * Connects to the MCP server at `url` and wraps its tools. Never throws: a failed connection is
 * logged as a warning and yields zero tools.
 */
export async function connectMcpTools(opts: McpConnectOptions): Promise<McpConnection> {
  const name = opts.name ?? 'memory';
  const log = opts.logger;
  const callTimeoutMs = opts.callTimeoutMs ?? 120_000;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const outputLimit = opts.outputLimit ?? 30_000;
  const where = displayUrl(opts.url);
  const headers: Record<string, string> = {
    ...opts.headers,
    ...(opts.authToken ? { Authorization: `Bearer ${opts.authToken}` } : {}),
  };
  // Header values and their last word (the token of "Bearer <token>") never reach a log or the model.
  const secrets = Object.values(headers)
    .flatMap((v) => [v, v.split(' ').at(-1) ?? ''])
    .filter((v) => v.length >= 6);
  const scrub = (s: string): string => secrets.reduce((t, v) => t.split(v).join('***'), s);

  let client: Client;
  let transport: Transport;
  let remote: RemoteTool[] = [];
  let kind: string;
  try {
    ({ client, transport, kind } = await openClient({ ...opts, name }, headers, connectTimeoutMs));
  } catch (err) {
    const error = scrub(errMessage(err));
    log.warn('MCP server unavailable; continuing without its tools', { mcp: name, url: where, err: error });
    return { tools: [], connected: false, error, close: async () => {} };
  }
  try {
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined, { timeout: connectTimeoutMs });
      remote = remote.concat(page.tools);
      cursor = page.nextCursor;
    } while (cursor && remote.length < 1000);
  } catch (err) {
    const error = scrub(errMessage(err));
    log.warn('MCP server did not list its tools; continuing without them', {
      mcp: name,
      url: where,
      err: error,
    });
    await client.close().catch(() => {});
    return {
      tools: [],
      connected: false,
      error: `listing its tools failed: ${error}`,
      close: async () => {},
    };
  }

  let connected = true;
  let closed = false;
  client.onclose = () => {
    const was = connected;
    connected = false;
    if (!closed) {
      log.warn('MCP connection closed', { mcp: name, url: where });
      if (was) opts.onLost?.();
    }
  };
  client.onerror = (err) => log.debug('MCP transport error', { mcp: name, err: scrub(errMessage(err)) });

  const truncate = (s: string): string =>
    s.length > outputLimit
      ? `${s.slice(0, outputLimit)}\n[… truncated ${s.length - outputLimit} characters]`
      : s;

  const used = new Set<string>();
  const tools: Tool[] = remote.map((rt) => {
    let toolName = mcpToolName(name, rt.name);
    for (let i = 2; used.has(toolName); i++)
      toolName = `${toolName.slice(0, MAX_NAME - String(i).length - 1)}_${i}`;
    used.add(toolName);
    const description = `[${name} MCP] ${(rt.description ?? rt.title ?? rt.name).slice(0, MAX_DESCRIPTION)}`;
    const tool: Tool<McpInput> = {
      name: toolName,
      kind: 'mcp',
      mcp: { server: name, tool: rt.name },
      description,
      input: z.record(z.string(), z.unknown()),
      jsonSchema: { ...(rt.inputSchema as Record<string, unknown>) },
      async execute(input: McpInput, ctx: ToolContext): Promise<ToolResult> {
        if (!connected) {
          return {
            output: `The ${name} MCP server connection is closed; try again in a later run.`,
            isError: true,
          };
        }
        try {
          const res = (await client.callTool({ name: rt.name, arguments: input }, undefined, {
            signal: ctx.signal,
            timeout: callTimeoutMs,
            resetTimeoutOnProgress: true,
          })) as Record<string, unknown>;
          const text = scrub(flattenMcpContent(res));
          return { output: truncate(text || '(no output)'), isError: res.isError === true };
        } catch (err) {
          if (ctx.signal.aborted) return { output: `MCP tool ${rt.name} was cancelled`, isError: true };
          // Protocol errors (timeouts, invalid params) leave the connection usable; anything else
          // (HTTP failure, session gone) means it is not.
          if (!(err instanceof McpError) && connected) {
            connected = false;
            opts.onLost?.();
          }
          return { output: `MCP tool ${rt.name} failed: ${scrub(errMessage(err))}`, isError: true };
        }
      },
    };
    return tool as Tool;
  });

  log.info('MCP server connected', {
    mcp: name,
    url: opts.transport ? '(stdio, sandboxed)' : where,
    transport: kind,
    tools: tools.map((t) => t.name),
  });
  return {
    tools,
    get connected() {
      return connected;
    },
    async close() {
      if (closed) return;
      closed = true;
      connected = false;
      if (transport instanceof StreamableHTTPClientTransport) {
        await withTimeout(transport.terminateSession(), 2000, 'MCP session end').catch(() => {});
      }
      await client.close().catch(() => {});
    },
  };
}

export interface McpToolSource {
  /** First connection attempt (never throws). */
  start(): Promise<void>;
  /** The current tools; when disconnected, starts a background reconnect (at most once per retryMs). */
  tools(): Tool[];
  /** Waits for a reconnect in progress, if any (tests). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A connection that heals: tools of the live connection, and a reconnect — picked up by later
 * runs — when the server was down at start-up or the connection was lost.
 */
export function createMcpToolSource(opts: McpConnectOptions & { retryMs?: number }): McpToolSource {
  const retryMs = opts.retryMs ?? 30_000;
  let conn: McpConnection | undefined;
  let pending: Promise<void> | undefined;
  let lastAttempt = 0;
  let closed = false;

  const connect = (): Promise<void> => {
    if (pending) return pending;
    lastAttempt = Date.now();
    pending = (async () => {
      const old = conn;
      const next = await connectMcpTools(opts);
      if (closed) {
        await next.close();
        return;
      }
      if (next.connected || !old?.connected) {
        conn = next;
        if (old && old !== next) await old.close();
      } else {
        await next.close();
      }
    })().finally(() => {
      pending = undefined;
    });
    return pending;
  };

  return {
    start: () => connect(),
    tools() {
      if (!closed && !conn?.connected && !pending && Date.now() - lastAttempt >= retryMs) void connect();
      return conn?.connected ? conn.tools : [];
    },
    settled: async () => {
      await pending;
    },
    async close() {
      closed = true;
      await pending;
      await conn?.close();
    },
  };
}
