// The MCP bridge against a REAL MCP server (the SDK's McpServer over Streamable HTTP or SSE on a
// local node:http server that requires a bearer token).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { toAnthropicTool } from '../../src/agent/tool-schema.ts';
import type { Logger } from '../../src/observability/logger.ts';
import { connectMcpTools, createMcpToolSource, flattenMcpContent, mcpToolName } from '../../src/tools/mcp.ts';
import type { Tool, ToolContext } from '../../src/tools/types.ts';
import { sleep } from '../helpers/sleep.ts';

const TOKEN = 'mcp-secret-token-123';

interface LogLine {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}
function captureLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const mk = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    lines.push({ level, msg, fields });
  };
  const logger = {
    lines,
    debug: mk('debug'),
    info: mk('info'),
    warn: mk('warn'),
    error: mk('error'),
    child: () => logger,
  };
  return logger;
}

function memoryServer(store: Map<string, string>): McpServer {
  const server = new McpServer({ name: 'memory', version: '1.0.0' });
  server.registerTool(
    'remember',
    { description: 'Store a value under a key', inputSchema: { key: z.string(), value: z.string() } },
    async ({ key, value }) => {
      store.set(key, value);
      return { content: [{ type: 'text', text: `stored ${key}` }] };
    },
  );
  server.registerTool(
    'recall',
    { description: 'Read the value stored under a key', inputSchema: { key: z.string() } },
    async ({ key }) => {
      const v = store.get(key);
      if (v === undefined) return { content: [{ type: 'text', text: `no value for ${key}` }], isError: true };
      return { content: [{ type: 'text', text: v }] };
    },
  );
  server.registerTool('explode', { description: 'Always throws' }, async () => {
    throw new Error('kaboom');
  });
  server.registerTool('slow', { description: 'Takes a long time' }, async (extra) => {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 10_000);
      extra.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
    return { content: [{ type: 'text', text: 'done' }] };
  });
  server.registerTool('weird.name', { description: 'Odd name' }, async () => ({
    content: [
      { type: 'text', text: 'a' },
      { type: 'image', data: 'AAAA', mimeType: 'image/png' },
      { type: 'text', text: 'b' },
    ],
  }));
  return server;
}

interface TestServer {
  url: string;
  port: number;
  store: Map<string, string>;
  requests: Array<{ method: string; url: string }>;
  close(): Promise<void>;
}

const open: TestServer[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

/** Stateless Streamable HTTP MCP server (a fresh McpServer per request, shared store). */
async function startStreamable(port = 0): Promise<TestServer> {
  const store = new Map<string, string>();
  const requests: TestServer['requests'] = [];
  const httpServer = http.createServer(async (req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
      return;
    }
    if (req.url !== '/mcp') return void res.writeHead(404).end();
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
    const server = memoryServer(store);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  });
  return listen(httpServer, port, '/mcp', store, requests);
}

/** Old-style HTTP+SSE MCP server only (GET /sse + POST /messages). */
async function startSseOnly(): Promise<TestServer> {
  const store = new Map<string, string>();
  const requests: TestServer['requests'] = [];
  const sessions = new Map<string, SSEServerTransport>();
  const httpServer = http.createServer(async (req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end();
    const u = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && u.pathname === '/sse') {
      const transport = new SSEServerTransport('/messages', res);
      sessions.set(transport.sessionId, transport);
      res.on('close', () => sessions.delete(transport.sessionId));
      await memoryServer(store).connect(transport);
      return;
    }
    if (req.method === 'POST' && u.pathname === '/messages') {
      const t = sessions.get(u.searchParams.get('sessionId') ?? '');
      if (!t) return void res.writeHead(404).end();
      await t.handlePostMessage(req, res);
      return;
    }
    res.writeHead(405).end();
  });
  return listen(httpServer, 0, '/sse', store, requests);
}

async function listen(
  httpServer: http.Server,
  port: number,
  pathname: string,
  store: Map<string, string>,
  requests: TestServer['requests'],
): Promise<TestServer> {
  await new Promise<void>((resolve) => httpServer.listen(port, '127.0.0.1', resolve));
  const actual = (httpServer.address() as AddressInfo).port;
  const s: TestServer = {
    url: `http://127.0.0.1:${actual}${pathname}`,
    port: actual,
    store,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        httpServer.closeAllConnections();
        httpServer.close(() => resolve());
      }),
  };
  open.push(s);
  return s;
}

function ctx(signal = new AbortController().signal): ToolContext {
  return { workspace: '/nonexistent', runId: 'r1', sessionId: 's1', signal, onOutput: () => {}, env: {} };
}

const call = (tool: Tool | undefined, input: Record<string, unknown>, c = ctx()) => {
  if (!tool) throw new Error('tool missing');
  return tool.execute(tool.input.parse(input), c);
};
const byName = (tools: Tool[], name: string) => tools.find((t) => t.name === name);

describe('mcpToolName / flattenMcpContent', () => {
  it('sanitises and bounds names', () => {
    expect(mcpToolName('memory', 'remember')).toBe('mcp__memory__remember');
    expect(mcpToolName('mem ory', 'a.b/c d')).toBe('mcp__mem_ory__a_b_c_d');
    expect(mcpToolName('memory', 'x'.repeat(100))).toHaveLength(64);
  });
  it('flattens text, placeholders and structured content', () => {
    expect(
      flattenMcpContent({
        content: [
          { type: 'text', text: 'a' },
          { type: 'resource_link', uri: 'u://x' },
        ],
      }),
    ).toBe('a\n[resource link: u://x]');
    expect(flattenMcpContent({ content: [], structuredContent: { n: 1 } })).toBe('{"n":1}');
  });
});

describe('connectMcpTools (Streamable HTTP)', () => {
  it('bridges the remote tools: names, JSON schema, calls with the bearer token', async () => {
    const srv = await startStreamable();
    const logger = captureLogger();
    const conn = await connectMcpTools({ url: srv.url, authToken: TOKEN, logger });
    try {
      expect(conn.connected).toBe(true);
      const names = conn.tools.map((t) => t.name).sort();
      expect(names).toEqual([
        'mcp__memory__explode',
        'mcp__memory__recall',
        'mcp__memory__remember',
        'mcp__memory__slow',
        'mcp__memory__weird_name',
      ]);
      const remember = byName(conn.tools, 'mcp__memory__remember')!;
      expect(remember.description).toContain('Store a value under a key');
      expect(remember.jsonSchema).toMatchObject({
        type: 'object',
        properties: { key: { type: 'string' }, value: { type: 'string' } },
        required: ['key', 'value'],
      });
      // The model sees the remote schema, not the permissive zod validator.
      expect(toAnthropicTool(remember).input_schema).toMatchObject({
        properties: { key: { type: 'string' } },
      });

      const r1 = await call(remember, { key: 'color', value: 'blue' });
      expect(r1).toEqual({ output: 'stored color', isError: false });
      expect(srv.store.get('color')).toBe('blue');
      const r2 = await call(byName(conn.tools, 'mcp__memory__recall'), { key: 'color' });
      expect(r2).toEqual({ output: 'blue', isError: false });

      const odd = await call(byName(conn.tools, 'mcp__memory__weird_name'), {});
      expect(odd.output).toBe('a\n[image: image/png]\nb');
      expect(logger.lines.some((l) => l.level === 'info' && l.msg === 'MCP server connected')).toBe(true);
      expect(JSON.stringify(logger.lines)).not.toContain(TOKEN);
    } finally {
      await conn.close();
    }
  });

  it('reports remote tool errors as error results', async () => {
    const srv = await startStreamable();
    const conn = await connectMcpTools({ url: srv.url, authToken: TOKEN, logger: captureLogger() });
    try {
      const missing = await call(byName(conn.tools, 'mcp__memory__recall'), { key: 'nope' });
      expect(missing).toEqual({ output: 'no value for nope', isError: true });
      const thrown = await call(byName(conn.tools, 'mcp__memory__explode'), {});
      expect(thrown.isError).toBe(true);
      expect(thrown.output).toContain('kaboom');
      // Invalid arguments are rejected by the remote server's own validation.
      const invalid = await call(byName(conn.tools, 'mcp__memory__remember'), { key: 1 });
      expect(invalid.isError).toBe(true);
      // The connection is still usable afterwards.
      expect(conn.connected).toBe(true);
      expect(
        (await call(byName(conn.tools, 'mcp__memory__remember'), { key: 'k', value: 'v' })).isError,
      ).toBe(false);
    } finally {
      await conn.close();
    }
  });

  it('honours the run abort signal and the call timeout', async () => {
    const srv = await startStreamable();
    const conn = await connectMcpTools({
      url: srv.url,
      authToken: TOKEN,
      logger: captureLogger(),
      callTimeoutMs: 300,
    });
    try {
      const slow = byName(conn.tools, 'mcp__memory__slow');
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      const t0 = Date.now();
      const aborted = await call(slow, {}, ctx(ac.signal));
      expect(aborted.isError).toBe(true);
      expect(aborted.output).toContain('cancelled');
      const timedOut = await call(slow, {});
      expect(timedOut.isError).toBe(true);
      expect(timedOut.output).toMatch(/timed out/i);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await conn.close();
    }
  });

  it('a wrong token fails the connection cleanly: no tools, a warning, no crash', async () => {
    const srv = await startStreamable();
    const logger = captureLogger();
    const conn = await connectMcpTools({ url: srv.url, authToken: 'wrong', logger });
    expect(conn.connected).toBe(false);
    expect(conn.tools).toEqual([]);
    await conn.close();
    const warn = logger.lines.find((l) => l.level === 'warn');
    expect(warn?.msg).toMatch(/MCP server unavailable/);
    expect(String(warn?.fields?.err)).toMatch(/401/);
    // An auth failure does not fall back to SSE (no GET).
    expect(srv.requests.every((r) => r.method === 'POST')).toBe(true);

    const none = await connectMcpTools({ url: srv.url, logger: captureLogger() });
    expect(none.tools).toEqual([]);
  });

  it('an unreachable server yields zero tools', async () => {
    const srv = await startStreamable();
    const url = srv.url;
    await srv.close();
    open.pop();
    const logger = captureLogger();
    const conn = await connectMcpTools({ url, authToken: TOKEN, logger, connectTimeoutMs: 2000 });
    expect(conn.tools).toEqual([]);
    expect(logger.lines.some((l) => l.level === 'warn')).toBe(true);
  });
});

describe('connectMcpTools (SSE fallback)', () => {
  it('falls back to the HTTP+SSE transport', async () => {
    const srv = await startSseOnly();
    const logger = captureLogger();
    const conn = await connectMcpTools({ url: srv.url, authToken: TOKEN, logger, name: 'mem' });
    try {
      expect(conn.connected).toBe(true);
      const info = logger.lines.find((l) => l.msg === 'MCP server connected');
      expect(info?.fields?.transport).toBe('sse');
      const remember = byName(conn.tools, 'mcp__mem__remember');
      expect(await call(remember, { key: 'a', value: '1' })).toEqual({ output: 'stored a', isError: false });
      expect(await call(byName(conn.tools, 'mcp__mem__recall'), { key: 'a' })).toEqual({
        output: '1',
        isError: false,
      });
    } finally {
      await conn.close();
    }
  });
});

describe('createMcpToolSource', () => {
  it('starts without the server, then reconnects on a later run', async () => {
    // Reserve a free port, then free it: the server is "down" at start-up.
    const probe = await startStreamable();
    const port = probe.port;
    const url = probe.url;
    await probe.close();
    open.pop();

    const logger = captureLogger();
    const source = createMcpToolSource({
      url,
      authToken: TOKEN,
      logger,
      retryMs: 50,
      connectTimeoutMs: 2000,
    });
    await source.start();
    expect(source.tools()).toEqual([]);

    await startStreamable(port);
    await sleep(60);
    expect(source.tools()).toEqual([]); // kicks off the reconnect
    await source.settled();
    const tools = source.tools();
    expect(tools.map((t) => t.name)).toContain('mcp__memory__remember');
    expect((await call(byName(tools, 'mcp__memory__remember'), { key: 'x', value: 'y' })).isError).toBe(
      false,
    );
    await source.close();
    expect(source.tools()).toEqual([]);
  });
});
