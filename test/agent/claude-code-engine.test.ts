// The claude-code engine end to end: the REAL Claude Code CLI (bundled with the Agent SDK) against
// the mock Anthropic API, on a real git workspace. Each CLI start costs ~0.3–1 s.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type ClaudeCodeEngineOptions,
  createClaudeCodeEngine,
  type ToolAuditEvent,
} from '../../src/agent/claude-code/engine.ts';
import {
  EngineError,
  type EngineEvent,
  type EngineResult,
  type EngineRunContext,
} from '../../src/agent/engine.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { createBugfixRepo } from '../../src/mock-llm/fixtures.ts';
import {
  bugfixScenario,
  claudeCodeSideReply,
  isClaudeCodeSideRequest,
  type MessagesRequest,
  type MockLlm,
  startMockLlm,
  textReply,
  toolCall,
  turnIndex,
  workingDirectoryOf,
} from '../../src/mock-llm/index.ts';
import { BUGFIX_COMMIT_MESSAGE, BUGFIX_FINAL_TEXT } from '../../src/mock-llm/scenarios.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { SandboxWrapper } from '../../src/sandbox/types.ts';
import type { MessageRecord } from '../../src/store/types.ts';
import type { Tool } from '../../src/tools/types.ts';
import { sleep } from '../helpers/sleep.ts';

const run = promisify(execFile);
const MODEL = 'claude-sonnet-4-5';

let mock: MockLlm;
let root: string;
let config: Config;
let gitEnv: Record<string, string>;

beforeAll(async () => {
  mock = await startMockLlm();
  root = await mkdtemp(path.join(os.tmpdir(), 'cc-engine-'));
  const home = path.join(root, 'home');
  await run('mkdir', ['-p', home]);
  gitEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'duyetbot',
    GIT_AUTHOR_EMAIL: 'duyetbot@example.com',
    GIT_COMMITTER_NAME: 'duyetbot',
    GIT_COMMITTER_EMAIL: 'duyetbot@example.com',
  };
  config = testConfig({});
});

afterAll(async () => {
  await mock?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

function testConfig(env: Record<string, string>): Config {
  return loadConfig({
    DATA_DIR: path.join(root, 'data'),
    ANTHROPIC_API_KEY: 'test-key',
    ANTHROPIC_BASE_URL: mock.url,
    AGENT_ENGINE: 'claude-code',
    AGENT_MODEL: MODEL,
    CLAUDE_MAX_PROCESSES: '4',
    ...env,
  });
}

let counter = 0;
/** A clone of a fresh bugfix fixture repository. */
async function workspace(): Promise<{ ws: string; bareRepo: string }> {
  const dir = path.join(root, `repo-${++counter}`);
  const { bareRepo } = await createBugfixRepo(dir);
  const ws = path.join(dir, 'ws');
  await run('git', ['clone', '-q', bareRepo, ws], { env: gitEnv });
  return { ws, bareRepo };
}

interface Harness {
  ctx: EngineRunContext;
  events: EngineEvent[];
  controller: AbortController;
}

function harness(
  ws: string,
  input: string,
  extra: Partial<EngineRunContext> & { sessionId: string },
): Harness {
  const events: EngineEvent[] = [];
  const controller = new AbortController();
  const ctx: EngineRunContext = {
    runId: `run-${++counter}`,
    model: MODEL,
    history: [],
    input,
    workspace: ws,
    tools: [],
    engineState: {},
    env: gitEnv,
    signal: controller.signal,
    emit: (e) => events.push(e),
    ...extra,
  };
  return { ctx, events, controller };
}

function engineWith(o: Partial<ClaudeCodeEngineOptions> = {}) {
  return createClaudeCodeEngine({ config, logger: silentLogger, ...o });
}

function toHistory(sessionId: string, r: EngineResult): MessageRecord[] {
  return r.messages.map((m, i) => ({
    id: `m${i}`,
    sessionId,
    role: m.role,
    text: m.text,
    content: m.content,
    createdAt: new Date().toISOString(),
  }));
}

/** Claude Code CLI processes that are children of this test process. */
function cliChildren(): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const ppid = /^PPid:\s+(\d+)/m.exec(status)?.[1];
      if (Number(ppid) !== process.pid) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('claude')) out.push(Number(pid));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function processesMatching(marker: string): number {
  let n = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) n++;
    } catch {
      // exited
    }
  }
  return n;
}

function mainRequests(from: number): MessagesRequest[] {
  return mock.requests
    .slice(from)
    .map((r) => r.body as MessagesRequest)
    .filter((b) => b && Array.isArray(b.messages) && !isClaudeCodeSideRequest(b));
}

function allText(req: MessagesRequest): string {
  return JSON.stringify(req.messages);
}

async function expectEngineError(p: Promise<unknown>, code: string): Promise<EngineError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code, (err as Error).message).toBe(code);
    return err as EngineError;
  }
  throw new Error(`expected EngineError(${code})`);
}

describe('claude-code engine (real Claude Code CLI against the mock LLM)', () => {
  it('runs the bugfix scenario, then resumes the conversation in a second run', async () => {
    mock.setResponder(bugfixScenario('claude-code'));
    const { ws, bareRepo } = await workspace();
    const audits: ToolAuditEvent[] = [];
    const engine = engineWith({ onToolEvent: (e) => audits.push(e) });
    const sessionId = 'sess-bugfix';
    const first = harness(ws, 'Fix the bug in math.js, run the tests, commit and push.', { sessionId });
    const r1 = await engine.run(first.ctx);

    expect(r1.stopReason).toBe('end_turn');
    expect(r1.finalText).toBe(BUGFIX_FINAL_TEXT);
    expect(r1.engineState?.claudeSessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(r1.usage.inputTokens).toBeGreaterThan(0);
    expect(r1.usage.outputTokens).toBeGreaterThan(0);
    expect(r1.usage.costUsd).toBeGreaterThan(0);

    const types = first.events.map((e) => e.type);
    expect(types).toContain('text.delta');
    expect(types).toContain('message.assistant');
    const started = first.events.flatMap((e) => (e.type === 'tool.started' ? [e.data] : []));
    const completed = first.events.flatMap((e) => (e.type === 'tool.completed' ? [e.data] : []));
    expect(started.map((s) => s.name)).toEqual(['Read', 'Edit', 'Bash', 'Bash', 'Bash']);
    expect(completed.map((c) => [c.name, c.isError])).toEqual([
      ['Read', false],
      ['Edit', false],
      ['Bash', false],
      ['Bash', false],
      ['Bash', false],
    ]);
    expect(completed.map((c) => c.toolUseId)).toEqual(started.map((s) => s.toolUseId));
    expect(completed[0]?.output).toContain('return a - b;');
    expect(completed[2]?.output).toContain('all tests passed');
    for (const c of completed) expect(c.durationMs).toBeGreaterThanOrEqual(0);
    const deltas = first.events.flatMap((e) => (e.type === 'text.delta' ? [e.data.text] : [])).join('');
    expect(deltas).toContain(BUGFIX_FINAL_TEXT);
    expect(first.events.filter((e) => e.type === 'message.assistant').map((e) => e.data.text)).toEqual([
      'Let me look at the code.',
      BUGFIX_FINAL_TEXT,
    ]);
    // audit hook: a pre and a post for every call
    expect(audits.filter((a) => a.phase === 'pre').map((a) => a.tool)).toEqual([
      'Read',
      'Edit',
      'Bash',
      'Bash',
      'Bash',
    ]);
    expect(audits.filter((a) => a.phase === 'post')).toHaveLength(5);
    expect(audits.every((a) => a.runId === first.ctx.runId && a.sessionId === sessionId)).toBe(true);

    // the work really happened
    expect(await readFile(path.join(ws, 'math.js'), 'utf8')).toContain('return a + b;');
    const test = await run('node', ['test.js'], { cwd: ws });
    expect(test.stdout).toContain('all tests passed');
    const log = await run('git', ['--git-dir', bareRepo, 'log', '--format=%s', 'main'], { env: gitEnv });
    expect(log.stdout.split('\n')[0]).toBe(BUGFIX_COMMIT_MESSAGE);

    // persisted messages: user input, assistant turns with tool_use, tool results
    expect(r1.messages[0]).toMatchObject({ role: 'user', text: first.ctx.input });
    expect(r1.messages.filter((m) => m.role === 'assistant')).toHaveLength(6);
    // one CLI process per run, gone when the run ends
    expect(cliChildren()).toEqual([]);
    // nothing written outside the per-session config dir
    const configDir = path.join(gitEnv.HOME!, 'claude', sessionId);
    expect(readdirSync(configDir)).toContain('projects');

    await engine.close?.();

    // --- second run, on a new engine (a server restart): resumes the same conversation ------
    mock.setResponder((req) =>
      isClaudeCodeSideRequest(req) ? claudeCodeSideReply(req) : textReply('Second answer.'),
    );
    const before = mock.requests.length;
    const second = harness(ws, 'What did you change?', {
      sessionId,
      engineState: r1.engineState ?? {},
      history: toHistory(sessionId, r1),
    });
    const restarted = engineWith();
    const r2 = await restarted.run(second.ctx);
    expect(r2.finalText).toBe('Second answer.');
    expect(r2.engineState?.claudeSessionId).toBe(r1.engineState?.claudeSessionId);
    expect(second.events.some((e) => e.type === 'session.notice')).toBe(false);
    const reqs = mainRequests(before);
    expect(reqs.length).toBeGreaterThan(0);
    const body = allText(reqs[0]!);
    expect(body).toContain('Fix the bug in math.js, run the tests, commit and push.');
    expect(body).toContain('"name":"Read"');
    expect(body).toContain(BUGFIX_FINAL_TEXT);
    expect(body).toContain('What did you change?');
    // only this run's tokens, although Claude Code's totals are cumulative over the session
    expect(r2.usage.costUsd).toBeLessThan(r1.usage.costUsd);
    expect(cliChildren()).toEqual([]);
    await restarted.close?.();
  });

  it('interrupt mid-tool stops within seconds; the session stays usable and the next run resumes', async () => {
    const marker = `cc-sleeper-${process.pid}-${Date.now()}`;
    mock.setResponder((req) => {
      if (isClaudeCodeSideRequest(req)) return claudeCodeSideReply(req);
      if (allText(req).includes('Are you still there?')) return textReply('Still here.');
      return (
        [
          toolCall('Bash', {
            command: `node -e "setTimeout(() => {}, 30000)" ${marker}`,
            description: 'Wait a while',
          }),
        ][turnIndex(req)] ?? textReply('done')
      );
    });
    const { ws } = await workspace();
    const engine = engineWith();
    const sessionId = 'sess-interrupt';
    const h = harness(ws, 'Run the slow command.', { sessionId });
    const p = engine.run(h.ctx);
    // wait until the command is running
    const t0 = Date.now();
    while (processesMatching(marker) === 0) {
      if (Date.now() - t0 > 20_000) throw new Error('the slow command never started');
      await sleep(50);
    }
    const abortedAt = Date.now();
    h.controller.abort();
    const err = await expectEngineError(p, 'aborted');
    expect(err.message).toBe('run interrupted');
    expect(Date.now() - abortedAt).toBeLessThan(5000);
    expect(h.events.some((e) => e.type === 'tool.started' && e.data.name === 'Bash')).toBe(true);
    await sleep(200);
    expect(processesMatching(marker)).toBe(0);
    expect(cliChildren()).toEqual([]);

    // A third run (no engineState: the interrupted run returned none) resumes the conversation.
    const before = mock.requests.length;
    const next = harness(ws, 'Are you still there?', { sessionId });
    const r = await engine.run(next.ctx);
    expect(r.finalText).toBe('Still here.');
    const body = allText(mainRequests(before)[0]!);
    expect(body).toContain('Run the slow command.');
    expect(body).toContain(marker);
    await engine.close?.();
  });

  it('falls back to a fresh conversation seeded with the history when the transcript is gone', async () => {
    mock.setResponder((req) =>
      isClaudeCodeSideRequest(req) ? claudeCodeSideReply(req) : textReply('Fresh start.'),
    );
    const { ws } = await workspace();
    const engine = engineWith();
    const sessionId = 'sess-lost';
    const history: MessageRecord[] = [
      { id: '1', sessionId, role: 'user', text: 'Remember the number 4217.', createdAt: '' },
      { id: '2', sessionId, role: 'assistant', text: 'Noted: 4217.', createdAt: '' },
    ];
    const before = mock.requests.length;
    const h = harness(ws, 'Which number?', {
      sessionId,
      history,
      engineState: { claudeSessionId: '0b5b2a4e-5a7f-4c1e-9a43-1d2a3b4c5d6e' },
    });
    const r = await engine.run(h.ctx);
    expect(r.finalText).toBe('Fresh start.');
    expect(r.engineState?.claudeSessionId).not.toBe('0b5b2a4e-5a7f-4c1e-9a43-1d2a3b4c5d6e');
    const notices = h.events.filter((e) => e.type === 'session.notice');
    expect(notices).toHaveLength(1);
    const body = allText(mainRequests(before)[0]!);
    expect(body).toContain('Remember the number 4217.');
    expect(body).toContain('Which number?');
    await engine.close?.();
  });

  it('enforces the policy on Claude Code tools and bridges server tools over MCP', async () => {
    const { ws } = await workspace();
    mock.setResponder((req) => {
      if (isClaudeCodeSideRequest(req)) return claudeCodeSideReply(req);
      const cwd = workingDirectoryOf(req) ?? ws;
      return (
        [
          toolCall('Read', { file_path: '/etc/hostname' }),
          toolCall('Read', { file_path: `${cwd}/../origin.git/config` }),
          toolCall('WebFetch', { url: 'https://example.com', prompt: 'x' }),
          toolCall('mcp__server__echo', { text: 'hello' }),
          toolCall('Read', { file_path: `${cwd}/math.js` }),
          textReply('Checked.'),
        ][turnIndex(req)] ?? textReply('done')
      );
    });
    const echo: Tool<{ text: string }> = {
      name: 'echo',
      description: 'Echo text back',
      input: z.object({ text: z.string() }),
      async execute(input, tctx) {
        tctx.onOutput('stdout', `streamed ${input.text}\n`);
        return {
          output: `echo: ${input.text} in ${tctx.workspace}`,
          isError: false,
          meta: { echoed: input.text },
        };
      },
    };
    const audits: ToolAuditEvent[] = [];
    const engine = engineWith({ serverTools: () => [echo as Tool], onToolEvent: (e) => audits.push(e) });
    const h = harness(ws, 'Check things.', { sessionId: 'sess-policy' });
    const r = await engine.run(h.ctx);
    expect(r.finalText).toBe('Checked.');
    const completed = h.events.flatMap((e) => (e.type === 'tool.completed' ? [e.data] : []));
    expect(completed.map((c) => [c.name, c.isError])).toEqual([
      ['Read', true],
      ['Read', true],
      ['WebFetch', true],
      ['mcp__server__echo', false],
      ['Read', false],
    ]);
    expect(completed[0]?.output).toMatch(/Access denied: "\/etc\/hostname".*outside the workspace/);
    expect(completed[1]?.output).toMatch(/outside the workspace/);
    expect(completed[3]?.output).toBe(
      `echo: hello in ${await import('node:fs/promises').then((f) => f.realpath(ws))}`,
    );
    const mcpId = completed[3]?.toolUseId;
    expect(h.events).toContainEqual({
      type: 'tool.output',
      data: { toolUseId: mcpId, stream: 'stdout', chunk: 'streamed hello\n' },
    });
    expect(r.toolMeta).toEqual([{ echoed: 'hello' }]);
    // denied calls are audited too (pre + post with isError)
    expect(audits.filter((a) => a.phase === 'post' && a.isError).map((a) => a.tool)).toEqual([
      'Read',
      'Read',
    ]);
    await engine.close?.();
  });

  it('queues runs beyond CLAUDE_MAX_PROCESSES with a notice', async () => {
    mock.setResponder((req) =>
      isClaudeCodeSideRequest(req) ? claudeCodeSideReply(req) : textReply('ok', { deltaDelayMs: 5 }),
    );
    const { ws } = await workspace();
    const { ws: ws2 } = await workspace();
    const engine = createClaudeCodeEngine({
      config: testConfig({ CLAUDE_MAX_PROCESSES: '1' }),
      logger: silentLogger,
    });
    const a = harness(ws, 'one', { sessionId: 'sess-slot-a' });
    const b = harness(ws2, 'two', { sessionId: 'sess-slot-b' });
    const pa = engine.run(a.ctx);
    const pb = engine.run(b.ctx);
    expect(engine.stats()).toMatchObject({ capacity: 1, waiting: 1 });
    const [ra, rb] = await Promise.all([pa, pb]);
    expect(ra.finalText).toBe('ok');
    expect(rb.finalText).toBe('ok');
    const notice = b.events.find((e) => e.type === 'session.notice');
    expect(notice?.data).toMatchObject({ message: expect.stringMatching(/Waiting for a Claude Code slot/) });
    expect(engine.stats()).toEqual({ capacity: 1, active: 0, waiting: 0 });
  });

  it('runs the CLI through a sandbox wrapper when one is configured', async () => {
    mock.setResponder((req) =>
      isClaudeCodeSideRequest(req) ? claudeCodeSideReply(req) : textReply('wrapped'),
    );
    const { ws } = await workspace();
    const calls: Array<{
      command: string;
      args: string[];
      cwd: string;
      workspace: string;
      network?: boolean;
    }> = [];
    const fakeBwrap: SandboxWrapper = {
      kind: 'bwrap',
      wrap(spec) {
        calls.push({
          command: spec.command,
          args: spec.args,
          cwd: spec.cwd,
          workspace: spec.workspace,
          network: spec.network,
        });
        return { command: spec.command, args: spec.args, env: spec.env, cwd: spec.cwd };
      },
    };
    const pids: Array<number | undefined> = [];
    const engine = engineWith({ sandbox: fakeBwrap, onSpawn: (pid) => pids.push(pid) });
    const r = await engine.run(harness(ws, 'hi', { sessionId: 'sess-sandbox' }).ctx);
    expect(r.finalText).toBe('wrapped');
    const real = await import('node:fs/promises').then((f) => f.realpath(ws));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ cwd: real, workspace: real, network: true });
    // The CLI starts behind a tiny sh that creates its config dir inside the sandbox.
    expect(calls[0]?.command).toBe('/bin/sh');
    expect(calls[0]?.args[1]).toMatch(/^mkdir -p -- "\$CLAUDE_CONFIG_DIR"/);
    expect(calls[0]?.args.slice(3).join(' ')).toMatch(/claude/);
    expect(pids[0]).toBeTypeOf('number');
  });

  it('fails fast with llm_auth_error when the API rejects the key', async () => {
    const strict = await startMockLlm({
      requireApiKey: 'the-right-key',
      responder: () => textReply('never'),
    });
    try {
      const { ws } = await workspace();
      const engine = createClaudeCodeEngine({
        config: testConfig({ ANTHROPIC_BASE_URL: strict.url, ANTHROPIC_API_KEY: 'a-wrong-key' }),
        logger: silentLogger,
      });
      const t0 = Date.now();
      const err = await expectEngineError(
        engine.run(harness(ws, 'hi', { sessionId: 'sess-auth' }).ctx),
        'llm_auth_error',
      );
      expect(err.message).toMatch(/credentials/);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(cliChildren()).toEqual([]);
    } finally {
      await strict.close();
    }
  });

  it('reports API errors (400) as llm_error with the message', async () => {
    mock.setResponder((req) =>
      isClaudeCodeSideRequest(req)
        ? claudeCodeSideReply(req)
        : { kind: 'error', status: 400, type: 'invalid_request_error', message: 'prompt is malformed' },
    );
    const { ws } = await workspace();
    const engine = engineWith();
    const err = await expectEngineError(
      engine.run(harness(ws, 'hi', { sessionId: 'sess-400' }).ctx),
      'llm_error',
    );
    expect(err.message).toMatch(/400.*prompt is malformed/);
  });

  it('reports max turns as a stop reason', async () => {
    mock.setResponder((req) =>
      isClaudeCodeSideRequest(req)
        ? claudeCodeSideReply(req)
        : toolCall('Bash', { command: 'true', description: 'noop' }),
    );
    const { ws } = await workspace();
    const engine = createClaudeCodeEngine({
      config: testConfig({ AGENT_MAX_TURNS: '2' }),
      logger: silentLogger,
    });
    const r = await engine.run(harness(ws, 'loop', { sessionId: 'sess-turns' }).ctx);
    expect(r.stopReason).toBe('max_turns');
  });

  it('missing credentials → missing_api_key before anything is spawned', async () => {
    const before = mock.requests.length;
    const { ws } = await workspace();
    const engine = createClaudeCodeEngine({
      config: testConfig({ ANTHROPIC_API_KEY: '' }),
      logger: silentLogger,
    });
    await expectEngineError(
      engine.run(harness(ws, 'hi', { sessionId: 'sess-nokey' }).ctx),
      'missing_api_key',
    );
    expect(mock.requests.length).toBe(before);
    expect(cliChildren()).toEqual([]);
  });

  it('uses llmAccess for the endpoint and releases it', async () => {
    mock.setResponder((req) =>
      isClaudeCodeSideRequest(req) ? claudeCodeSideReply(req) : textReply('via access'),
    );
    const { ws } = await workspace();
    let released = 0;
    const asked: string[] = [];
    const engine = createClaudeCodeEngine({
      config: testConfig({ ANTHROPIC_API_KEY: '', AGENT_MODEL: 'claude-haiku-4-5' }),
      logger: silentLogger,
      llmAccess: async (runId: string, model: string) => {
        asked.push(`${runId}:${model}`);
        return { baseUrl: mock.url, apiKey: 'per-run-token', release: () => released++ };
      },
    });
    const before = mock.requests.length;
    // no model on the run: the configured one
    const h = harness(ws, 'hi', { sessionId: 'sess-access', model: '' });
    const r = await engine.run(h.ctx);
    expect(r.finalText).toBe('via access');
    expect(released).toBe(1);
    // the access is asked for the run's model (the proxy binds its token to it)
    expect(asked).toEqual([`${h.ctx.runId}:claude-haiku-4-5`]);
    expect(mock.requests[before]?.headers['x-api-key']).toBe('per-run-token');
    expect(mock.requests[before]!.body).toMatchObject({ model: 'claude-haiku-4-5' });
  });
});
