// The runtime wiring of the MCP bridge: with MCP_SERVER_URL set, runs get the remote tools next
// to the built-in ones (gh included); an unreachable MCP server does not stop the server.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Engine, EngineRunContext } from '../../src/agent/engine.ts';
import { emptyUsage } from '../../src/protocol/index.ts';
import { api, json, startTestServer, type TestServer } from '../helpers/server.ts';

const TOKEN = 'runtime-mcp-token';

async function startMemoryMcp(): Promise<{
  url: string;
  store: Map<string, string>;
  close(): Promise<void>;
}> {
  const store = new Map<string, string>();
  const httpServer = http.createServer(async (req, res) => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end();
    if (req.method !== 'POST') return void res.writeHead(405).end();
    const server = new McpServer({ name: 'memory', version: '1.0.0' });
    server.registerTool(
      'remember',
      { description: 'Store a value', inputSchema: { key: z.string(), value: z.string() } },
      async ({ key, value }) => {
        store.set(key, value);
        return { content: [{ type: 'text', text: `stored ${key}` }] };
      },
    );
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/mcp`,
    store,
    close: () =>
      new Promise<void>((resolve) => {
        httpServer.closeAllConnections();
        httpServer.close(() => resolve());
      }),
  };
}

/** An engine that records the tools it was given and calls the MCP `remember` tool if present. */
function probeEngine(): Engine & { seen: Promise<{ names: string[]; output?: string }> } {
  let resolveSeen: (v: { names: string[]; output?: string }) => void = () => {};
  const seen = new Promise<{ names: string[]; output?: string }>((r) => {
    resolveSeen = r;
  });
  return {
    name: 'native',
    seen,
    async run(ctx: EngineRunContext) {
      const names = ctx.tools.map((t) => t.name);
      const remember = ctx.tools.find((t) => t.name === 'mcp__memory__remember');
      let output: string | undefined;
      if (remember) {
        const res = await remember.execute(remember.input.parse({ key: 'k', value: 'v' }), {
          workspace: ctx.workspace,
          runId: ctx.runId,
          sessionId: ctx.sessionId,
          signal: ctx.signal,
          onOutput: () => {},
          env: ctx.env,
        });
        output = res.output;
      }
      resolveSeen({ names, output });
      return { stopReason: 'end_turn', usage: emptyUsage(), finalText: 'ok', messages: [], toolMeta: [] };
    },
  };
}

let server: TestServer | undefined;
let mcp: Awaited<ReturnType<typeof startMemoryMcp>> | undefined;
afterEach(async () => {
  await server?.close();
  await mcp?.close();
  server = undefined;
  mcp = undefined;
});

async function runOnce(s: TestServer): Promise<void> {
  const created = await api(s.url, 'POST', '/api/sessions', { title: 'mcp' });
  expect(created.status).toBe(201);
  const session = await json<{ id: string }>(created);
  const sent = await api(s.url, 'POST', `/api/sessions/${session.id}/messages`, { content: 'hi' });
  expect(sent.status).toBe(202);
}

describe('runtime MCP wiring', () => {
  it('adds the MCP server tools (and gh) to every run', async () => {
    mcp = await startMemoryMcp();
    const engine = probeEngine();
    server = await startTestServer(
      { MCP_SERVER_URL: mcp.url, MCP_AUTH_TOKEN: TOKEN },
      { engines: { native: engine } },
    );
    await runOnce(server);
    const seen = await engine.seen;
    expect(seen.names).toEqual(expect.arrayContaining(['bash', 'fs', 'git', 'gh', 'mcp__memory__remember']));
    expect(seen.output).toBe('stored k');
    expect(mcp.store.get('k')).toBe('v');
  });

  it('starts without MCP tools when the MCP server refuses the token', async () => {
    mcp = await startMemoryMcp();
    const engine = probeEngine();
    server = await startTestServer(
      { MCP_SERVER_URL: mcp.url, MCP_AUTH_TOKEN: 'wrong' },
      { engines: { native: engine } },
    );
    await runOnce(server);
    const seen = await engine.seen;
    expect(seen.names).toEqual(expect.arrayContaining(['bash', 'fs', 'git', 'gh']));
    expect(seen.names.some((n) => n.startsWith('mcp__'))).toBe(false);
  });
});
