// The MCP server supervisor with the official @modelcontextprotocol/server-memory over stdio: its
// tools are kind 'mcp' and named mcp__<server>__<tool>; killed, it is restarted (after the backoff,
// on a manual clock) and what it stored survives in its state directory; a server that never starts
// is reported with the reason, and retried with growing delays.
import { mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.ts';
import { buildChildEnv } from '../../src/sandbox/child-env.ts';
import { noSandbox } from '../../src/sandbox/types.ts';
import { McpServers } from '../../src/tools/mcp-servers.ts';
import type { Tool, ToolContext } from '../../src/tools/types.ts';
import { ManualClock } from '../helpers/clock.ts';
import { MEMORY_SERVER_JS } from '../helpers/mcp-memory.ts';
import { tempDir } from '../helpers/server.ts';
import { until } from '../helpers/sleep.ts';

const ctx = (workspace: string): ToolContext => ({
  workspace,
  runId: 'r',
  sessionId: 's',
  signal: new AbortController().signal,
  onOutput: () => {},
  env: {},
});
const call = (t: Tool, input: unknown, dir: string) => t.execute(t.input.parse(input), ctx(dir));

let hub: McpServers | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

async function memoryHub(clock: ManualClock) {
  const data = await tempDir('mcp-hub-');
  hub = new McpServers({
    servers: [
      {
        name: 'memory',
        type: 'stdio',
        command: process.execPath,
        args: [MEMORY_SERVER_JS],
        env: { MEMORY_FILE_PATH: path.join(data, 'mcp', 'memory', 'memory.jsonl') },
      },
      { name: 'broken', type: 'stdio', command: '/nonexistent/mcp-server', args: [], env: {} },
    ],
    logger: silentLogger,
    sandbox: noSandbox,
    stateDir: async (name) => {
      const d = path.join(data, 'mcp', name);
      mkdirSync(d, { recursive: true });
      return realpathSync(d);
    },
    baseEnv: buildChildEnv({ gitAuthorName: 'a', gitAuthorEmail: 'a@b' }, { home: '/tmp' }),
    outputLimit: 10_000,
    clock,
    retryBaseMs: 1000,
  });
  await hub.start();
  return { hub, data };
}

describe('MCP servers (stdio, supervised)', () => {
  it('exposes the memory server as mcp__memory__* tools of kind mcp', async () => {
    const { hub, data } = await memoryHub(new ManualClock());
    const tools = hub.tools();
    const names = tools.map((t) => t.name);
    expect(names).toContain('mcp__memory__create_entities');
    expect(names).toContain('mcp__memory__search_nodes');
    expect(tools.every((t) => t.kind === 'mcp' && t.mcp?.server === 'memory')).toBe(true);
    const create = tools.find((t) => t.name === 'mcp__memory__create_entities')!;
    expect(create.jsonSchema).toMatchObject({ type: 'object', properties: { entities: expect.anything() } });
    const r = await call(
      create,
      { entities: [{ name: 'duyet', entityType: 'person', observations: ['prefers Rust'] }] },
      data,
    );
    expect(r.isError, r.output).toBe(false);
  });

  it('a server that dies is restarted after its backoff, and keeps what it stored', async () => {
    const clock = new ManualClock();
    const { hub, data } = await memoryHub(clock);
    const tools = hub.tools();
    const create = tools.find((t) => t.name === 'mcp__memory__create_entities')!;
    const search = tools.find((t) => t.name === 'mcp__memory__search_nodes')!;
    await call(
      create,
      { entities: [{ name: 'kept', entityType: 'fact', observations: ['survives a crash'] }] },
      data,
    );

    const before = hub.status().find((s) => s.name === 'memory')!;
    expect(before).toMatchObject({ state: 'connected', restarts: 0 });
    const pid = (hub as unknown as { sup: Array<{ transport?: { pid?: number } }> }).sup[0]!.transport!.pid!;
    process.kill(pid, 'SIGKILL');
    await until(() => hub.status()[0]!.state === 'failed', 'the death to be noticed');
    expect(hub.status()[0]).toMatchObject({
      restarts: 1,
      error: expect.stringContaining('killed by SIGKILL'),
    });
    // While it is down, its tools (held by a run that started before) say so.
    const down = await call(search, { query: 'kept' }, data);
    expect(down).toMatchObject({ isError: true, output: expect.stringContaining('not available right now') });
    expect(hub.unavailable()).toEqual(
      expect.arrayContaining([{ name: 'memory', error: expect.stringContaining('SIGKILL') }]),
    );

    await clock.advance(1000); // the backoff
    await until(() => hub.status()[0]!.state === 'connected', 'the restart');
    // The same tool object (a run in progress) works again, and the fact survived the crash.
    const found = await call(search, { query: 'kept' }, data);
    expect(found.isError, found.output).toBe(false);
    expect(found.output).toContain('survives a crash');
  });

  it('a server that will not start is reported with the reason and retried with growing delays', async () => {
    const clock = new ManualClock();
    const { hub } = await memoryHub(clock);
    const broken = () => hub.status().find((s) => s.name === 'broken')!;
    expect(broken()).toMatchObject({ state: 'failed', tools: 0, failures: 1 });
    expect(broken().error).toMatch(/ENOENT|nonexistent/);
    expect(hub.tools().some((t) => t.name.startsWith('mcp__broken__'))).toBe(false);
    expect(hub.unavailable().map((u) => u.name)).toEqual(['broken']);
    await clock.advance(1000); // first retry after 1 s
    await until(() => broken().failures === 2, 'the first retry');
    await clock.advance(1000); // the next one waits 2 s: nothing yet
    await hub.settled();
    expect(broken().failures).toBe(2);
    await clock.advance(1000);
    await until(() => broken().failures === 3, 'the second retry');
  });
});
