// Unit tests of the claude-code engine's pure parts: tool policy, message mapping, outcome and
// usage, history seed, process slots, CLI env, stderr lines and the sandbox spawner.
import { existsSync } from 'node:fs';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SDKMessage, SDKResultMessage } from '@anthropic-ai/claude-agent-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { inputShape, runServerTool, toolUseIdOf } from '../../src/agent/claude-code/mcp-bridge.ts';
import {
  flattenToolResult,
  interpretResult,
  RunMapper,
  resultUsage,
  seedPrompt,
} from '../../src/agent/claude-code/messages.ts';
import {
  buildPolicy,
  builtinToolsFor,
  checkToolName,
  checkToolUse,
  DEFAULT_ALLOWED_TOOLS,
  pathArguments,
  policySettingsOf,
  READ_ONLY_TOOLS,
  staticPrefix,
} from '../../src/agent/claude-code/policy.ts';
import { buildCliEnv, cliSpawner, lineSplitter } from '../../src/agent/claude-code/process.ts';
import { ProcessSlots } from '../../src/agent/claude-code/process-pool.ts';
import {
  claudeConfigDir,
  readStoredSessionId,
  transcriptExists,
  writeStoredSessionId,
} from '../../src/agent/claude-code/session-store.ts';
import type { EngineEvent, ModelCallEnd, ModelCallObserver } from '../../src/agent/engine.ts';
import { loadConfig } from '../../src/config.ts';
import type { ProcessSpec, SandboxWrapper } from '../../src/sandbox/types.ts';
import { type Tool, ToolError } from '../../src/tools/types.ts';
import { sleep } from '../helpers/sleep.ts';

let root: string;
let ws: string;
let outsideFile: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'cc-units-'));
  ws = path.join(root, 'ws');
  await mkdir(path.join(ws, 'src'), { recursive: true });
  await writeFile(path.join(ws, 'src', 'a.js'), 'a');
  outsideFile = path.join(root, 'secret.txt');
  await writeFile(outsideFile, 'secret');
  await symlink(outsideFile, path.join(ws, 'link-out'));
  await symlink(root, path.join(ws, 'dir-out'));
  await symlink('src/a.js', path.join(ws, 'link-in'));
  await link(outsideFile, path.join(ws, 'hard'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('policy', () => {
  const policy = buildPolicy({}, ['git']);

  it('allows the default tools and server MCP tools, denies web tools and unknown tools', () => {
    for (const t of ['Read', 'Edit', 'Bash', 'Glob', 'Grep', 'Task', 'Agent', 'mcp__server__git']) {
      expect(checkToolName(policy, t)).toEqual({ allow: true });
    }
    for (const t of ['WebFetch', 'WebSearch', 'CronCreate', 'mcp__other__x', 'mcp__server__gh']) {
      expect(checkToolName(policy, t).allow).toBe(false);
    }
  });

  it('deny list (CLAUDE_DENY_TOOLS) wins; CLAUDE_ALLOW_TOOLS adds tools', () => {
    const settings = policySettingsOf(
      loadConfig({ CLAUDE_DENY_TOOLS: 'Bash, mcp__server__git', CLAUDE_ALLOW_TOOLS: 'WebFetch' }),
    );
    expect(settings).toEqual({ denyTools: ['Bash', 'mcp__server__git'], allowTools: ['WebFetch'] });
    const p = buildPolicy(settings, ['git']);
    const bash = checkToolName(p, 'Bash');
    expect(bash.allow).toBe(false);
    if (!bash.allow) expect(bash.reason).toMatch(/denied by the server's policy/);
    expect(checkToolName(p, 'mcp__server__git').allow).toBe(false);
    expect(checkToolName(p, 'WebFetch').allow).toBe(true);
    expect(builtinToolsFor(p)).not.toContain('Bash');
    expect(builtinToolsFor(p)).toContain('WebFetch');
  });

  it('legacy names and current names are the same tool', () => {
    expect(builtinToolsFor(policy)).toEqual(expect.arrayContaining(['Task', 'Agent', 'Read']));
    const noTask = buildPolicy({ denyTools: ['Agent'] }, []);
    expect(checkToolName(noTask, 'Task').allow).toBe(false);
    expect(builtinToolsFor(noTask)).not.toContain('Task');
    expect(builtinToolsFor(noTask)).not.toContain('Agent');
  });

  it('per-run override narrows the tools (read-only) and can hide server tools', () => {
    const p = buildPolicy({}, ['git'], { allowedTools: READ_ONLY_TOOLS, serverTools: false });
    expect(checkToolName(p, 'Read').allow).toBe(true);
    expect(checkToolName(p, 'Edit').allow).toBe(false);
    expect(checkToolName(p, 'Bash').allow).toBe(false);
    expect(checkToolName(p, 'mcp__server__git').allow).toBe(false);
    expect(DEFAULT_ALLOWED_TOOLS).toContain('Bash');
  });

  it('allows paths inside the workspace (absolute, relative, missing, symlink within)', async () => {
    for (const [tool, input] of [
      ['Read', { file_path: path.join(ws, 'src', 'a.js') }],
      ['Read', { file_path: 'src/a.js' }],
      ['Write', { file_path: path.join(ws, 'new', 'file.txt'), content: 'x' }],
      ['Read', { file_path: path.join(ws, 'link-in') }],
      ['Grep', { pattern: 'x', path: path.join(ws, 'src') }],
      ['Glob', { pattern: 'src/**/*.js' }],
      ['Glob', { pattern: '**/*.js', path: ws }],
      ['Bash', { command: 'cat /etc/passwd' }], // Bash is confined by the OS sandbox, not by paths
    ] as const) {
      expect(await checkToolUse(policy, ws, tool, input), `${tool} ${JSON.stringify(input)}`).toEqual({
        allow: true,
      });
    }
  });

  it('denies paths outside the workspace, symlinks out and hard links, with a message for the model', async () => {
    for (const [tool, input] of [
      ['Read', { file_path: '/etc/passwd' }],
      ['Read', { file_path: outsideFile }],
      ['Read', { file_path: '../secret.txt' }],
      ['Read', { file_path: path.join(ws, 'link-out') }],
      ['Write', { file_path: path.join(ws, 'dir-out', 'x.txt'), content: 'x' }],
      ['Edit', { file_path: path.join(ws, 'hard'), old_string: 'a', new_string: 'b' }],
      ['NotebookEdit', { notebook_path: '/tmp/x.ipynb', new_source: '' }],
      ['Grep', { pattern: 'root', path: '/etc' }],
      ['Glob', { pattern: '/etc/*' }],
      ['Glob', { pattern: '../**/*.txt' }],
      ['Glob', { pattern: '*.txt', path: '/' }],
    ] as const) {
      const d = await checkToolUse(policy, ws, tool, input);
      expect(d.allow, `${tool} ${JSON.stringify(input)}`).toBe(false);
      if (!d.allow) expect(d.reason).toMatch(/Access denied/);
    }
  });

  it('denies a denied tool before looking at paths', async () => {
    const d = await checkToolUse(policy, ws, 'WebFetch', { url: 'https://example.com', prompt: 'x' });
    expect(d.allow).toBe(false);
  });

  it('finds path arguments and glob prefixes', () => {
    expect(pathArguments('Read', { file_path: '/a' })).toEqual([{ key: 'file_path', value: '/a' }]);
    expect(pathArguments('Glob', { pattern: 'src/*.ts', path: 'lib' })).toEqual([
      { key: 'path', value: 'lib' },
      { key: 'pattern', value: 'lib/src' },
    ]);
    expect(staticPrefix('**/*.ts')).toBe('');
    expect(staticPrefix('/etc/*')).toBe('/etc');
    expect(staticPrefix('/etc/passwd')).toBe('/etc');
    expect(staticPrefix('../x/{a,b}.js')).toBe('../x');
    expect(staticPrefix('/*')).toBe('/');
  });
});

// --- message mapping -------------------------------------------------------------------------

function assistant(id: string, content: unknown[], extra: Record<string, unknown> = {}): SDKMessage {
  return {
    type: 'assistant',
    message: { id, model: 'claude-sonnet-4-5', content, role: 'assistant' },
    parent_tool_use_id: null,
    uuid: '00000000-0000-0000-0000-000000000001',
    session_id: 'sid',
    ...extra,
  } as unknown as SDKMessage;
}
function user(content: unknown[]): SDKMessage {
  return {
    type: 'user',
    message: { role: 'user', content },
    parent_tool_use_id: null,
    session_id: 'sid',
  } as unknown as SDKMessage;
}
function delta(text: string, parent: string | null = null): SDKMessage {
  return {
    type: 'stream_event',
    event: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } },
    parent_tool_use_id: parent,
    uuid: '00000000-0000-0000-0000-000000000002',
    session_id: 'sid',
  } as unknown as SDKMessage;
}
function result(fields: Record<string, unknown>): SDKResultMessage {
  return {
    type: 'result',
    subtype: 'success',
    is_error: false,
    result: 'done',
    stop_reason: 'end_turn',
    total_cost_usd: 0.5,
    usage: {
      input_tokens: 100,
      output_tokens: 10,
      cache_creation_input_tokens: 20,
      cache_read_input_tokens: 30,
    },
    modelUsage: {},
    permission_denials: [],
    num_turns: 1,
    duration_ms: 1,
    duration_api_ms: 1,
    uuid: '00000000-0000-0000-0000-000000000003',
    session_id: 'sid',
    ...fields,
  } as unknown as SDKResultMessage;
}

describe('RunMapper', () => {
  it('maps deltas, assistant text, tool calls and results; persists Anthropic-format messages', () => {
    const events: EngineEvent[] = [];
    let t = 0;
    const m = new RunMapper({ emit: (e) => events.push(e), outputLimit: 100, now: () => t });
    m.addUserInput('fix it');
    m.handle({ type: 'system', subtype: 'init', session_id: 'abc' } as unknown as SDKMessage);
    m.handle(delta('Let me '));
    m.handle(delta('look', 'toolu_parent')); // a subagent's delta: not ours
    m.handle(assistant('msg1', [{ type: 'text', text: 'Let me look.' }]));
    m.handle(
      assistant('msg1', [{ type: 'tool_use', id: 'tu1', name: 'Read', input: { file_path: '/w/a' } }]),
    );
    t = 42;
    m.handle(
      user([{ type: 'tool_result', tool_use_id: 'tu1', content: [{ type: 'text', text: 'x'.repeat(500) }] }]),
    );
    m.handle(assistant('msg2', [{ type: 'tool_use', id: 'tu2', name: 'Bash', input: { command: 'false' } }]));
    m.handle(user([{ type: 'tool_result', tool_use_id: 'tu2', content: 'Exit code 1', is_error: true }]));
    m.handle(assistant('msg3', [{ type: 'text', text: 'Done.' }]));

    expect(m.claudeSessionId).toBe('abc');
    expect(events.map((e) => e.type)).toEqual([
      'text.delta',
      'message.assistant',
      'tool.started',
      'tool.completed',
      'tool.started',
      'tool.completed',
      'message.assistant',
    ]);
    const completed = events.filter((e) => e.type === 'tool.completed').map((e) => e.data);
    expect(completed[0]).toMatchObject({ toolUseId: 'tu1', name: 'Read', isError: false, durationMs: 42 });
    expect(completed[0]?.output.length).toBeLessThanOrEqual(100);
    expect(completed[0]?.output).toMatch(/omitted/);
    expect(completed[1]).toMatchObject({
      toolUseId: 'tu2',
      name: 'Bash',
      isError: true,
      output: 'Exit code 1',
    });
    expect(m.lastAssistantText).toBe('Done.');
    expect(m.messages.map((x) => x.role)).toEqual([
      'user',
      'assistant',
      'user',
      'assistant',
      'user',
      'assistant',
    ]);
    expect(m.messages[1]?.content).toEqual([
      { type: 'text', text: 'Let me look.' },
      { type: 'tool_use', id: 'tu1', name: 'Read', input: { file_path: '/w/a' } },
    ]);
    expect(m.messages[4]?.content).toEqual([
      { type: 'tool_result', tool_use_id: 'tu2', content: 'Exit code 1', is_error: true },
    ]);
  });

  it('reports each main-loop model call to the observer: start, first token, usage, finish reason', () => {
    const calls: Array<{ model: string; startedAt?: number; first: number; end?: ModelCallEnd }> = [];
    const observer: ModelCallObserver = {
      start(info) {
        const c: (typeof calls)[number] = { ...info, first: 0 };
        calls.push(c);
        return {
          firstToken: () => {
            c.first++;
          },
          end: (r) => {
            c.end = r;
          },
        };
      },
    };
    const raw = (event: Record<string, unknown>, parent: string | null = null) =>
      ({
        type: 'stream_event',
        event,
        parent_tool_use_id: parent,
        session_id: 'sid',
      }) as unknown as SDKMessage;
    const start = (id: string) =>
      raw({
        type: 'message_start',
        message: {
          id,
          model: 'claude-test-1',
          usage: {
            input_tokens: 10,
            output_tokens: 1,
            cache_read_input_tokens: 5,
            cache_creation_input_tokens: 0,
          },
        },
      });
    const stop = (reason: string, out: number) => [
      raw({ type: 'message_delta', delta: { stop_reason: reason }, usage: { output_tokens: out } }),
      raw({ type: 'message_stop' }),
    ];
    const before = Date.now();
    const m = new RunMapper({ emit: () => {}, outputLimit: 100, observer });
    m.handle(start('msg1'));
    m.handle(delta('a'));
    m.handle(delta('b'));
    for (const x of stop('tool_use', 7)) m.handle(x);
    // A subagent's stream is not a main-loop call.
    m.handle(raw({ type: 'message_start', message: { id: 'sub', model: 'x', usage: {} } }, 'toolu_parent'));
    m.handle(user([{ type: 'tool_result', tool_use_id: 'tu1', content: 'ok' }]));
    const afterTool = Date.now();
    m.handle(start('msg2'));
    m.endCall('incomplete'); // the CLI ended mid-answer
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({
      model: 'claude-test-1',
      first: 1,
      end: {
        usage: { inputTokens: 10, outputTokens: 7, cacheReadInputTokens: 5, cacheCreationInputTokens: 0 },
        finishReason: 'tool_use',
        responseId: 'msg1',
        responseModel: 'claude-test-1',
      },
    });
    expect(calls[0]!.end!.error).toBeUndefined();
    expect(calls[0]!.startedAt).toBeGreaterThanOrEqual(before);
    // The second request went out after the tool result came back.
    expect(calls[1]!.startedAt).toBeGreaterThanOrEqual(calls[0]!.startedAt!);
    expect(calls[1]!.startedAt).toBeLessThanOrEqual(afterTool);
    expect(calls[1]).toMatchObject({ first: 0, end: { error: 'incomplete', responseId: 'msg2' } });
    m.endCall('again'); // nothing open: nothing reported twice
    expect(calls).toHaveLength(2);
  });

  it('turns API errors and auth retries into state, not assistant text', () => {
    const events: EngineEvent[] = [];
    const m = new RunMapper({ emit: (e) => events.push(e), outputLimit: 100 });
    m.handle(
      assistant('x', [{ type: 'text', text: 'API Error: 400 bad thing' }], {
        message: {
          id: 'x',
          model: '<synthetic>',
          content: [{ type: 'text', text: 'API Error: 400 bad thing' }],
        },
      }),
    );
    expect(m.apiError?.text).toBe('API Error: 400 bad thing');
    expect(events).toEqual([]);
    m.handle({
      type: 'system',
      subtype: 'api_retry',
      attempt: 1,
      max_retries: 10,
      retry_delay_ms: 500,
      error_status: 529,
      error: 'overloaded',
    } as unknown as SDKMessage);
    expect(events[0]).toMatchObject({ type: 'session.notice' });
    expect(m.authFailure).toBeUndefined();
    m.handle({
      type: 'system',
      subtype: 'api_retry',
      attempt: 1,
      max_retries: 10,
      retry_delay_ms: 500,
      error_status: 401,
      error: 'authentication_failed',
    } as unknown as SDKMessage);
    expect(m.authFailure).toEqual({ status: 401, error: 'authentication_failed' });
  });

  it('flattens tool results', () => {
    expect(flattenToolResult('a')).toBe('a');
    expect(
      flattenToolResult([{ type: 'text', text: 'a' }, { type: 'image' }, { type: 'text', text: 'b' }]),
    ).toBe('a\n[image]\nb');
    expect(flattenToolResult(undefined)).toBe('');
  });
});

describe('outcome and usage', () => {
  const mapper = { apiError: undefined, lastAssistantText: 'last', assistantOutput: true };

  it('success → stop reason, usage (cache tokens included), total cost', () => {
    const o = interpretResult(result({}), { model: 'claude-sonnet-4-5', resumed: false, mapper });
    expect(o).toEqual({
      kind: 'ok',
      stopReason: 'end_turn',
      finalText: 'done',
      usage: { inputTokens: 150, outputTokens: 10, costUsd: 0.5 },
    });
  });

  it('prefers the per-result delta (resumed sessions report cumulative totals)', () => {
    const r = result({
      model_usage_since_last_result: {
        'claude-sonnet-4-5': {
          inputTokens: 10,
          outputTokens: 2,
          cacheReadInputTokens: 5,
          cacheCreationInputTokens: 1,
          costUSD: 0.01,
        },
      },
    });
    expect(resultUsage(r, 'claude-sonnet-4-5', true)).toEqual({
      inputTokens: 16,
      outputTokens: 2,
      costUsd: 0.01,
    });
    // Without it a resumed run's cumulative total is not used: list price instead.
    expect(resultUsage(result({}), 'claude-sonnet-4-5', true).costUsd).not.toBe(0.5);
  });

  it('max turns is a stop reason, not an error', () => {
    const o = interpretResult(result({ subtype: 'error_max_turns', is_error: true, errors: [] }), {
      model: 'm',
      resumed: false,
      mapper,
    });
    expect(o).toMatchObject({ kind: 'ok', stopReason: 'max_turns', finalText: 'last' });
  });

  it('API errors → llm_error / llm_auth_error; execution errors → engine_error; missing transcript → resume_missing', () => {
    const e400 = interpretResult(
      result({ is_error: true, result: 'API Error: 400 bad thing', api_error_status: 400 }),
      {
        model: 'm',
        resumed: false,
        mapper,
      },
    );
    expect(e400.kind === 'error' && e400.error.code).toBe('llm_error');
    expect(e400.kind === 'error' && e400.error.message).toBe('API Error: 400 bad thing');
    const e401 = interpretResult(
      result({ is_error: true, result: 'Invalid API key', api_error_status: 401 }),
      {
        model: 'm',
        resumed: false,
        mapper,
      },
    );
    expect(e401.kind === 'error' && e401.error.code).toBe('llm_auth_error');
    const exec = interpretResult(
      result({ subtype: 'error_during_execution', is_error: true, errors: ['boom'] }),
      {
        model: 'm',
        resumed: false,
        mapper,
      },
    );
    expect(exec.kind === 'error' && [exec.error.code, exec.error.message]).toEqual(['engine_error', 'boom']);
    const missing = interpretResult(
      result({
        subtype: 'error_during_execution',
        is_error: true,
        errors: ['No conversation found with session ID: 1234'],
      }),
      { model: 'm', resumed: true, mapper: { ...mapper, assistantOutput: false } },
    );
    expect(missing).toEqual({ kind: 'resume_missing' });
  });
});

describe('seedPrompt', () => {
  it('summarises the history before the input, newest kept', () => {
    const history = [
      { role: 'user' as const, text: 'first question' },
      { role: 'assistant' as const, text: '', content: [{ type: 'text', text: 'first answer' }] },
      {
        role: 'assistant' as const,
        text: '',
        content: [{ type: 'tool_use', id: 't', name: 'x', input: {} }],
      },
      { role: 'user' as const, text: 'y'.repeat(2000) },
    ];
    const p = seedPrompt(history, 'new input', { maxChars: 820, perMessage: 800 });
    expect(p).toMatch(/earlier conversation/);
    expect(p).not.toMatch(/first question/); // dropped: too long in total
    expect(p).toMatch(/omitted/);
    expect(p.endsWith('\nnew input')).toBe(true);
    expect(seedPrompt([], 'only')).toBe('only');
    expect(seedPrompt(history.slice(0, 2), 'q')).toMatch(/User: first question\nAssistant: first answer/);
  });
});

describe('ProcessSlots', () => {
  it('caps concurrency, queues FIFO, announces waits, and drops aborted waiters', async () => {
    const slots = new ProcessSlots(1);
    const never = new AbortController().signal;
    const r1 = await slots.acquire(never);
    const waits: number[] = [];
    const order: string[] = [];
    const p2 = slots
      .acquire(never, (pos) => waits.push(pos))
      .then((r) => {
        order.push('2');
        return r;
      });
    const ac = new AbortController();
    const p3 = slots.acquire(ac.signal, (pos) => waits.push(pos));
    const p4 = slots.acquire(never).then((r) => {
      order.push('4');
      return r;
    });
    expect(slots.stats()).toEqual({ capacity: 1, active: 1, waiting: 3 });
    ac.abort(new Error('stop'));
    await expect(p3).rejects.toThrow('stop');
    r1();
    r1(); // idempotent
    const r2 = await p2;
    expect(slots.stats()).toEqual({ capacity: 1, active: 1, waiting: 1 });
    r2();
    (await p4)();
    expect(order).toEqual(['2', '4']);
    expect(waits).toEqual([1, 2]);
    expect(slots.stats()).toEqual({ capacity: 1, active: 0, waiting: 0 });
  });
});

describe('CLI process', () => {
  it('env: the run env without ANTHROPIC_/CLAUDE_ overrides, plus endpoint, config dir, quiet flags', () => {
    const env = buildCliEnv(
      { PATH: '/bin', HOME: '/h', ANTHROPIC_AUTH_TOKEN: 'leak', CLAUDE_CODE_USE_BEDROCK: '1' },
      { baseUrl: 'http://x/', apiKey: 'k' },
      '/cfg',
    );
    expect(env).toMatchObject({
      PATH: '/bin',
      HOME: '/h',
      ANTHROPIC_BASE_URL: 'http://x',
      ANTHROPIC_API_KEY: 'k',
      CLAUDE_CONFIG_DIR: '/cfg',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_TELEMETRY: '1',
    });
    expect(env.ANTHROPIC_AUTH_TOKEN).toBeUndefined();
    expect(env.CLAUDE_CODE_USE_BEDROCK).toBeUndefined();
    expect(env.ANTHROPIC_MODEL).toBeUndefined();
  });

  it('env: every model choice of the CLI is pinned to the run model (the LLM proxy refuses others)', () => {
    const env = buildCliEnv(
      { PATH: '/bin', ANTHROPIC_SMALL_FAST_MODEL: 'claude-haiku-4-5', CLAUDE_CODE_SUBAGENT_MODEL: 'opus' },
      { baseUrl: 'http://x', apiKey: 'k', model: 'claude-opus-4-1' },
      '/cfg',
    );
    for (const k of [
      'ANTHROPIC_MODEL',
      'ANTHROPIC_DEFAULT_OPUS_MODEL',
      'ANTHROPIC_DEFAULT_SONNET_MODEL',
      'ANTHROPIC_DEFAULT_HAIKU_MODEL',
      'ANTHROPIC_DEFAULT_FABLE_MODEL',
      'ANTHROPIC_SMALL_FAST_MODEL',
      'CLAUDE_CODE_SUBAGENT_MODEL',
      'CLAUDE_CODE_WORKFLOW_SUBAGENT_MODEL',
    ]) {
      expect(env[k], k).toBe('claude-opus-4-1');
    }
    expect(env).toMatchObject({
      CLAUDE_CODE_SUBAGENT_MODEL_FORCE: '1',
      CLAUDE_CODE_DISABLE_LEGACY_MODEL_REMAP: '1',
      CLAUDE_CODE_NO_MODEL_FALLBACK: '1',
    });
  });

  it('splits stderr into lines', () => {
    const lines: string[] = [];
    const s = lineSplitter((l) => lines.push(l));
    s.push('a\nb');
    s.push('c\r\n\n');
    s.push('tail');
    s.flush();
    expect(lines).toEqual(['a', 'bc', 'tail']);
  });

  it('the spawner wraps the command in the sandbox (network on) and restores the CLI credentials', async () => {
    const specs: ProcessSpec[] = [];
    const fake: SandboxWrapper = {
      kind: 'bwrap',
      wrap(spec) {
        specs.push(spec);
        // a sandbox strips secrets (and here: the model pinning) from the env
        const { ANTHROPIC_API_KEY: _k, ANTHROPIC_MODEL: _m, ...env } = spec.env;
        return { command: spec.command, args: spec.args, env, cwd: spec.cwd };
      },
    };
    const stderr: string[] = [];
    let pid: number | undefined;
    const spawner = cliSpawner({
      sandbox: fake,
      workspace: ws,
      cliEnv: {
        ANTHROPIC_API_KEY: 'k',
        ANTHROPIC_BASE_URL: 'http://x',
        CLAUDE_CONFIG_DIR: path.join(ws, 'cfg'),
        ANTHROPIC_MODEL: 'm1',
      },
      onStderr: (c) => stderr.push(c),
      onSpawn: (p) => {
        pid = p;
      },
    });
    const child = spawner.spawn({
      command: process.execPath,
      args: [
        '-e',
        'process.stderr.write(process.env.ANTHROPIC_API_KEY + ":" + process.env.ANTHROPIC_MODEL + ":" + process.cwd())',
      ],
      env: { PATH: process.env.PATH, ANTHROPIC_API_KEY: 'k', ANTHROPIC_MODEL: 'm1', UNSET: undefined },
      signal: new AbortController().signal,
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    await sleep(50);
    expect(code).toBe(0);
    expect(pid).toBeTypeOf('number');
    expect(specs).toHaveLength(1);
    // Behind a sh that creates the config dir as the sandbox's user, then becomes the CLI.
    expect(specs[0]).toMatchObject({ command: '/bin/sh', cwd: ws, workspace: ws, network: true });
    expect(specs[0]?.args.slice(3, 4)).toEqual([process.execPath]);
    expect(existsSync(path.join(ws, 'cfg'))).toBe(true);
    expect(specs[0]?.env).not.toHaveProperty('UNSET');
    expect(stderr.join('')).toBe(`k:m1:${ws}`);
    expect(spawner.pid()).toBe(pid);
    await spawner.reap(100);
  });

  it('reaps a lingering CLI and its process group', async () => {
    const spawner = cliSpawner({ workspace: ws, cliEnv: {}, onStderr: () => {} });
    const child = spawner.spawn({
      command: '/bin/sh',
      args: ['-c', 'trap "" TERM; sleep 30 & wait'],
      env: { PATH: process.env.PATH },
      signal: new AbortController().signal,
    });
    await sleep(100);
    const t0 = Date.now();
    await spawner.reap(300);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(child.exitCode !== null || child.signalCode !== null).toBe(true);
  });
});

describe('session store', () => {
  it('records the Claude session id and finds transcripts', async () => {
    const dir = claudeConfigDir(root, 'sess/../1');
    expect(path.dirname(dir)).toBe(path.join(root, 'claude'));
    await mkdir(dir, { recursive: true });
    expect(await readStoredSessionId(dir)).toBeUndefined();
    const id = '6f1c1d52-8a55-4a51-9b7d-0c7f0c9b2b11';
    await writeStoredSessionId(dir, id);
    expect(await readStoredSessionId(dir)).toBe(id);
    expect(await transcriptExists(root, dir, id)).toBe(false);
    await mkdir(path.join(dir, 'projects', '-some-cwd'), { recursive: true });
    await writeFile(path.join(dir, 'projects', '-some-cwd', `${id}.jsonl`), '{}\n');
    expect(await transcriptExists(root, dir, id)).toBe(true);
    expect(await transcriptExists(root, dir, '../../etc/passwd')).toBe(false);
    // A link the agent planted is not followed: neither a linked projects dir nor a linked transcript.
    const outside = await mkdtemp(path.join(os.tmpdir(), 'cc-outside-'));
    const other = '0f1c1d52-8a55-4a51-9b7d-0c7f0c9b2b12';
    await mkdir(path.join(outside, 'p'), { recursive: true });
    await writeFile(path.join(outside, 'p', `${other}.jsonl`), '{}\n');
    await symlink(path.join(outside, 'p'), path.join(dir, 'projects', 'linked'));
    await symlink(
      path.join(outside, 'p', `${other}.jsonl`),
      path.join(dir, 'projects', '-some-cwd', `${other}.jsonl`),
    );
    expect(await transcriptExists(root, dir, other)).toBe(false);
    await rm(outside, { recursive: true, force: true });
  });
});

describe('MCP bridge', () => {
  it('shows object, union and other schemas as objects', () => {
    const obj = z.object({ a: z.string() });
    expect(inputShape(obj)).toBe(obj.shape);
    const union = z.discriminatedUnion('op', [
      z.object({ op: z.literal('read'), path: z.string() }),
      z.object({ op: z.literal('write'), path: z.string(), content: z.string() }),
    ]);
    const flat = inputShape(union) as unknown as z.ZodType;
    const json = z.toJSONSchema(flat) as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(json.properties).sort()).toEqual(['content', 'op', 'path']);
    expect(json.required.sort()).toEqual(['op', 'path']);
    expect(flat.safeParse({ op: 'write', path: 'x', content: 'y', extra: 1 }).success).toBe(true);
    const other = inputShape(z.string()) as unknown as z.ZodType;
    expect(other.safeParse({ anything: 1 }).success).toBe(true);
  });

  it('runs a tool with the run context: output streamed under the tool_use id, meta collected, errors reported', async () => {
    const events: EngineEvent[] = [];
    const metas: Array<Record<string, unknown>> = [];
    const ctx = {
      workspace: ws,
      runId: 'r',
      sessionId: 's',
      env: { A: '1' },
      signal: new AbortController().signal,
      emit: (e: EngineEvent) => events.push(e),
      outputLimit: 1000,
      onMeta: (m: Record<string, unknown>) => metas.push(m),
    };
    const tool: Tool<{ n: number }> = {
      name: 't',
      description: 'd',
      input: z.object({ n: z.number() }),
      async execute(input, tctx) {
        tctx.onOutput('stdout', `n=${input.n} env=${tctx.env.A}`);
        if (input.n < 0) throw new ToolError('bad', 'negative');
        return { output: '', isError: false, meta: { n: input.n } };
      },
    };
    const extra = { _meta: { 'claudecode/toolUseId': 'toolu_1' } };
    expect(toolUseIdOf(extra)).toBe('toolu_1');
    expect(toolUseIdOf({})).toBeUndefined();
    const ok = await runServerTool(tool as Tool, { n: 2 }, extra, ctx);
    expect(ok).toEqual({ content: [{ type: 'text', text: '(no output)' }], isError: false });
    expect(events).toEqual([
      { type: 'tool.output', data: { toolUseId: 'toolu_1', stream: 'stdout', chunk: 'n=2 env=1' } },
    ]);
    expect(metas).toEqual([{ n: 2 }]);
    const bad = await runServerTool(tool as Tool, { n: 'x' }, extra, ctx);
    expect(bad.isError).toBe(true);
    expect(bad.content[0]?.text).toMatch(/Invalid input/);
    const thrown = await runServerTool(tool as Tool, { n: -1 }, extra, ctx);
    expect(thrown).toMatchObject({ isError: true, content: [{ text: 'negative' }] });
  });
});
