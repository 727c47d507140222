// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} in plain strings is the MCP_CONFIG syntax under test
// MCP servers, plural, through the real server in the bubblewrap sandbox (MCP_CONFIG):
//   - the official @modelcontextprotocol/server-memory over stdio, running INSIDE the sandbox in its
//     own DATA_DIR/mcp/memory: an agent stores a fact in one session and recalls it in another;
//   - a Streamable HTTP server built with the MCP SDK that demands a bearer token (the seed's Memory
//     MCP shape), its header from MCP_CONFIG with ${VAR} expansion;
//   - a server that will not start: reported in /health and as a session.notice in each run.
// Both engines see the tools under the same names; every call is in the audit log.
import { statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  claudeCodeSideReply,
  findMarker,
  isClaudeCodeSideRequest,
  type Responder,
  textReply,
  toolCall,
  toolUseCount,
  turnIndex,
} from '../../src/mock-llm/index.ts';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { allEvents, isRunEnd, type TestEvent } from '../helpers/events.ts';
import { MEMORY_SERVER_JS } from '../helpers/mcp-memory.ts';
import { closeMockedServer, type MockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { api, json, tempDir, waitFor } from '../helpers/server.ts';

const BEARER = 'remote-mcp-bearer-7f3a9c';
const FACT = 'Duyet prefers Rust for systems work';

async function startRemoteMcp(): Promise<{
  url: string;
  stored: string[];
  unauthorized: number;
  close(): Promise<void>;
}> {
  const state = { stored: [] as string[], unauthorized: 0 };
  const server = http.createServer(async (req, res) => {
    if (req.headers.authorization !== `Bearer ${BEARER}`) {
      state.unauthorized++;
      return void res.writeHead(401).end();
    }
    const mcp = new McpServer({ name: 'remote', version: '1.0.0' });
    mcp.registerTool(
      'remember',
      { description: 'Remember a note', inputSchema: { note: z.string().describe('the note') } },
      async ({ note }) => {
        state.stored.push(note);
        return { content: [{ type: 'text', text: `remembered: ${note}` }] };
      },
    );
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void mcp.close();
    });
    await mcp.connect(transport);
    await transport.handleRequest(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    get stored() {
      return state.stored;
    },
    get unauthorized() {
      return state.unauthorized;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** `[[script:store]]`, `[[script:recall]]`, `[[script:remote]]`, for either engine's tool names. */
function agent(): Responder {
  return (req) => {
    const cc = isClaudeCodeSideRequest(req);
    if (cc && req.output_config !== undefined) return claudeCodeSideReply(req);
    const isClaude = JSON.stringify(req.system ?? '').includes('Claude');
    const step = isClaude ? toolUseCount(req) : turnIndex(req);
    const call = (name: string, input: unknown) => (step === 0 ? toolCall(name, input) : textReply('done'));
    switch (findMarker(req)) {
      case 'store':
        return call('mcp__memory__create_entities', {
          entities: [{ name: 'duyet', entityType: 'person', observations: [FACT] }],
        });
      case 'recall':
        return call('mcp__memory__search_nodes', { query: 'duyet' });
      case 'remote':
        return call('mcp__remote__remember', { note: `from ${isClaude ? 'claude-code' : 'native'}` });
      default:
        return textReply('done');
    }
  };
}

describe.skipIf(!HAS_BWRAP)('MCP servers from MCP_CONFIG, in the sandbox', () => {
  let started: MockedServer;
  let remote: Awaited<ReturnType<typeof startRemoteMcp>>;
  let dataDir: string;

  beforeAll(async () => {
    remote = await startRemoteMcp();
    dataDir = await tempDir('mcp-int-');
    const configFile = path.join(await tempDir('mcp-conf-'), 'mcp.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        mcpServers: {
          memory: {
            command: process.execPath,
            args: [MEMORY_SERVER_JS],
            env: { MEMORY_FILE_PATH: '${DATA_DIR}/mcp/memory/memory.jsonl' },
          },
          remote: { type: 'http', url: remote.url, headers: { Authorization: 'Bearer ${REMOTE_MCP_TOKEN}' } },
          broken: { command: '/nonexistent/mcp-server' },
        },
      }),
    );
    started = await startMockedServer(
      { responder: agent() },
      {
        ANTHROPIC_API_KEY: 'k',
        SANDBOX: 'bwrap',
        DATA_DIR: dataDir,
        MCP_CONFIG: configFile,
        REMOTE_MCP_TOKEN: BEARER,
        // The memory server's code lives in this checkout's node_modules (an operator would install it under /usr).
        SANDBOX_RO_BIND: path.resolve(MEMORY_SERVER_JS, '..', '..', '..', '..'),
      },
    );
  }, 60_000);
  afterAll(async () => {
    await closeMockedServer(started?.server, started?.mock);
    await remote?.close();
  });

  async function runIn(
    sessionId: string | undefined,
    content: string,
    engine?: string,
  ): Promise<{ id: string; evs: TestEvent[] }> {
    const url = started.server.url;
    const id =
      sessionId ??
      (await json<{ id: string }>(await api(url, 'POST', '/api/sessions', engine ? { engine } : {}))).id;
    const before = (await allEvents(url, id)).filter(isRunEnd).length;
    await api(url, 'POST', `/api/sessions/${id}/messages`, { content });
    const evs = await waitFor(async () => {
      const all = await allEvents(url, id);
      return all.filter(isRunEnd).length > before ? all : undefined;
    }, 90_000);
    return { id, evs };
  }
  const results = (evs: TestEvent[]) => evs.filter((e) => e.type === 'tool.completed');

  it('reports the server that will not start in /health, and the others as connected', async () => {
    const health = await json<{
      status: string;
      checks: { mcp: { status: string; servers: Array<Record<string, unknown>> } };
    }>(await api(started.server.url, 'GET', '/health'));
    expect(health.status).toBe('degraded');
    expect(health.checks.mcp.status).toBe('degraded');
    const byName = Object.fromEntries(health.checks.mcp.servers.map((s) => [s.name, s]));
    expect(byName.memory).toMatchObject({ type: 'stdio', state: 'connected', tools: 9 });
    expect(byName.remote).toMatchObject({ type: 'http', state: 'connected', tools: 1 });
    expect(byName.broken).toMatchObject({ type: 'stdio', state: 'failed', tools: 0 });
    expect(String(byName.broken!.error)).toMatch(/nonexistent|No such file|exited/);
    expect(JSON.stringify(health)).not.toContain(BEARER);
  });

  it('native: a fact stored in one session is recalled in another; the broken server is a notice', async () => {
    const one = await runIn(undefined, '[[script:store]] remember this');
    expect(results(one.evs).map((e) => [e.data.name, e.data.isError])).toEqual([
      ['mcp__memory__create_entities', false],
    ]);
    const notice = one.evs.find(
      (e) => e.type === 'session.notice' && String(e.data.message).includes('"broken"'),
    );
    expect(notice?.data.message).toMatch(/mcp__broken__\*\) are missing from this run/);

    const two = await runIn(undefined, '[[script:recall]] what do you know about duyet?');
    expect(two.id).not.toBe(one.id);
    const recall = results(two.evs);
    expect(recall.map((e) => [e.data.name, e.data.isError])).toEqual([['mcp__memory__search_nodes', false]]);
    expect(String(recall[0]!.data.output)).toContain(FACT);

    // The memory server ran in the sandbox, in its own directory, as its own uid (root server).
    const file = path.join(dataDir, 'mcp', 'memory', 'memory.jsonl');
    expect(statSync(file).isFile()).toBe(true);
    if (process.getuid?.() === 0) expect(statSync(file).uid).toBeGreaterThanOrEqual(1_000_000);

    // Every MCP call is in the audit log as a tool call.
    const audit = await json<{ items: Array<{ details: { tool?: string } }> }>(
      await api(started.server.url, 'GET', '/api/audit?action=tool.call&limit=100'),
    );
    const tools = audit.items.map((i) => i.details.tool);
    expect(tools).toContain('mcp__memory__create_entities');
    expect(tools).toContain('mcp__memory__search_nodes');
  });

  it('native and claude-code both reach the bearer-protected HTTP server', async () => {
    const native = await runIn(undefined, '[[script:remote]]');
    expect(results(native.evs).map((e) => [e.data.name, e.data.isError])).toEqual([
      ['mcp__remote__remember', false],
    ]);
    const cc = await runIn(undefined, '[[script:remote]]', 'claude-code');
    const ccResults = results(cc.evs);
    expect(
      ccResults.map((e) => [e.data.name, e.data.isError]),
      JSON.stringify(cc.evs.filter((e) => e.type === 'run.failed')),
    ).toEqual([['mcp__remote__remember', false]]);
    expect(remote.stored).toEqual(['from native', 'from claude-code']);
    expect(remote.unauthorized).toBe(0);
  });

  it('claude-code recalls from the sandboxed memory server under the same tool name', async () => {
    const cc = await runIn(undefined, '[[script:recall]]', 'claude-code');
    const r = results(cc.evs);
    expect(r.map((e) => e.data.name)).toEqual(['mcp__memory__search_nodes']);
    expect(String(r[0]!.data.output)).toContain(FACT);
  });
});
