import { spawn } from 'node:child_process';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EngineError, type EngineEvent, type EngineRunContext } from '../../src/agent/engine.ts';
import { type ApiMessage, conversationProblems } from '../../src/agent/history.ts';
import { createNativeEngine, type NativeEngineOptions } from '../../src/agent/native/engine.ts';
import { costUsd } from '../../src/agent/pricing.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import {
  failFirst,
  lastToolResults,
  type MessagesRequest,
  type MockLlm,
  type MockReply,
  scripted,
  startMockLlm,
  textReply,
  toolCall,
} from '../../src/mock-llm/index.ts';
import type { MessageRecord } from '../../src/store/types.ts';
import { type Tool, ToolError } from '../../src/tools/types.ts';
import { sleep } from '../helpers/sleep.ts';

// --- fake tools -----------------------------------------------------------------------------

const echoTool: Tool<{ text: string }> = {
  name: 'echo',
  description: 'Echo text back',
  input: z.object({ text: z.string() }),
  async execute(input, ctx) {
    ctx.onOutput('stdout', `echo: ${input.text}\n`);
    return { output: input.text, isError: false, meta: { echoed: input.text } };
  },
};

/** Resolves only once `n` invocations are running at the same time: proves parallel execution. */
function barrierTool(n: number): Tool<{ id: string }> {
  let arrived = 0;
  let release: () => void = () => {};
  const all = new Promise<void>((r) => {
    release = r;
  });
  return {
    name: 'barrier',
    description: 'Wait for the others',
    input: z.object({ id: z.string() }),
    async execute(input) {
      arrived++;
      if (arrived >= n) release();
      const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 3000).unref());
      const r = await Promise.race([all.then(() => 'ok' as const), timeout]);
      return { output: `${input.id}:${r}`, isError: r !== 'ok' };
    },
  };
}

interface SleepProbe {
  aborted: boolean;
  started: boolean;
}
/** Runs a real `sleep <s>` child process, killed through the tool context's signal. */
function sleepTool(probe: SleepProbe): Tool<{ seconds: number }> {
  return {
    name: 'sleep',
    description: 'Sleep',
    input: z.object({ seconds: z.number() }),
    execute(input, ctx) {
      probe.started = true;
      ctx.signal.addEventListener('abort', () => {
        probe.aborted = true;
      });
      return new Promise((resolve) => {
        const child = spawn('sleep', [String(input.seconds)], { signal: ctx.signal, stdio: 'ignore' });
        child.on('error', () => {});
        child.on('close', (code, sig) => resolve({ output: `exit ${code ?? sig}`, isError: code !== 0 }));
      });
    },
  };
}

const throwingTool: Tool<Record<string, never>> = {
  name: 'boom',
  description: 'Always throws',
  input: z.object({}),
  async execute() {
    throw new Error('kaboom');
  },
};

const refusingTool: Tool<{ path: string }> = {
  name: 'refuse',
  description: 'Refuses paths',
  input: z.object({ path: z.string() }),
  async execute(input) {
    throw new ToolError('path_escape', `path "${input.path}" is outside the workspace`);
  },
};

// --- harness --------------------------------------------------------------------------------

let mock: MockLlm;
beforeAll(async () => {
  mock = await startMockLlm();
});
afterAll(async () => {
  await mock.close();
});
beforeEach(() => {
  mock.requests.length = 0;
});

function config(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    ANTHROPIC_API_KEY: 'sk-test',
    ANTHROPIC_BASE_URL: mock.url,
    AGENT_MODEL: 'claude-sonnet-4-6',
    DATA_DIR: '/tmp/native-engine-test',
    ...overrides,
  });
}

function engine(cfg = config(), extra: Partial<NativeEngineOptions> = {}) {
  return createNativeEngine({ config: cfg, retry: { baseDelayMs: 5, maxDelayMs: 20 }, ...extra });
}

function context(over: Partial<EngineRunContext> = {}) {
  const events: EngineEvent[] = [];
  const ctx: EngineRunContext = {
    runId: 'run_1',
    sessionId: 'ses_1',
    model: 'claude-sonnet-4-6',
    history: [],
    input: 'hello',
    workspace: '/tmp',
    tools: [echoTool as Tool],
    engineState: {},
    env: { PATH: process.env.PATH ?? '' },
    signal: new AbortController().signal,
    emit: (e) => events.push(e),
    ...over,
  };
  return { ctx, events };
}

function bodies(): MessagesRequest[] {
  return mock.requests.filter((r) => r.path === '/v1/messages').map((r) => r.body as MessagesRequest);
}

function stripCache(messages: MessagesRequest['messages']): ApiMessage[] {
  return JSON.parse(JSON.stringify(messages), (k, v) =>
    k === 'cache_control' ? undefined : v,
  ) as ApiMessage[];
}

async function rejection(p: Promise<unknown>): Promise<EngineError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EngineError);
    return err as EngineError;
  }
  throw new Error('expected the run to fail');
}

const types = (events: EngineEvent[]) => events.map((e) => e.type);
const notices = (events: EngineEvent[]) =>
  events.flatMap((e) => (e.type === 'session.notice' ? [e.data.message] : []));

// --- tests ----------------------------------------------------------------------------------

describe('native engine', () => {
  it('streams text deltas in order, then message.assistant, and returns the turn', async () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    mock.setResponder(scripted([textReply(text, { chunkSize: 5 })]));
    const { ctx, events } = context({ systemPrompt: 'Be brief. [[custom]]' });
    const result = await engine().run(ctx);

    const deltas = events.filter((e) => e.type === 'text.delta');
    expect(deltas.length).toBe(Math.ceil(text.length / 5));
    expect(deltas.map((e) => (e.data as { text: string }).text).join('')).toBe(text);
    expect(types(events)).toEqual([...deltas.map(() => 'text.delta'), 'message.assistant']);
    expect(events.at(-1)).toEqual({ type: 'message.assistant', data: { text } });

    expect(result.stopReason).toBe('end_turn');
    expect(result.finalText).toBe(text);
    expect(result.messages).toEqual([
      { role: 'user', text: 'hello', content: [{ type: 'text', text: 'hello' }] },
      { role: 'assistant', text, content: [{ type: 'text', text }] },
    ]);
    expect(result.toolMeta).toEqual([]);

    const [req] = bodies();
    expect(req?.model).toBe('claude-sonnet-4-6');
    expect(req?.stream).toBe(true);
    expect(req?.max_tokens).toBeGreaterThan(0);
    expect(JSON.stringify(req?.system)).toContain('[[custom]]');
    expect(JSON.stringify(req?.system)).toContain('echo');
    expect(req?.tools).toEqual([
      {
        name: 'echo',
        description: 'Echo text back',
        input_schema: expect.objectContaining({ type: 'object', required: ['text'] }),
      },
    ]);
    expect(req?.tools?.[0]?.input_schema).not.toHaveProperty('$schema');
    const h = mock.requests[0]?.headers;
    expect(h?.['x-api-key'] === 'sk-test' || h?.authorization === 'Bearer sk-test').toBe(true);
  });

  it('runs a tool round trip: events, tool_result in the second request, meta', async () => {
    mock.setResponder(
      scripted([
        toolCall('echo', { text: 'ping' }, { id: 'tu_1', text: 'Calling echo.' }),
        textReply('Echo said ping.'),
      ]),
    );
    const { ctx, events } = context();
    const result = await engine().run(ctx);

    expect(types(events).filter((t) => t !== 'text.delta')).toEqual([
      'message.assistant',
      'tool.started',
      'tool.output',
      'tool.completed',
      'message.assistant',
    ]);
    expect(events.find((e) => e.type === 'tool.started')?.data).toEqual({
      toolUseId: 'tu_1',
      name: 'echo',
      input: { text: 'ping' },
    });
    expect(events.find((e) => e.type === 'tool.output')?.data).toEqual({
      toolUseId: 'tu_1',
      stream: 'stdout',
      chunk: 'echo: ping\n',
    });
    expect(events.find((e) => e.type === 'tool.completed')?.data).toMatchObject({
      toolUseId: 'tu_1',
      name: 'echo',
      isError: false,
      output: 'ping',
      durationMs: expect.any(Number),
    });

    const reqs = bodies();
    expect(reqs).toHaveLength(2);
    expect(lastToolResults(reqs[1]!)).toEqual([{ toolUseId: 'tu_1', content: 'ping', isError: false }]);
    expect(conversationProblems(stripCache(reqs[1]!.messages))).toEqual([]);

    expect(result.finalText).toBe('Echo said ping.');
    expect(result.toolMeta).toEqual([{ echoed: 'ping' }]);
    expect(result.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(result.messages[1]?.content).toEqual([
      { type: 'text', text: 'Calling echo.' },
      { type: 'tool_use', id: 'tu_1', name: 'echo', input: { text: 'ping' } },
    ]);
    expect(result.messages[2]).toEqual({
      role: 'user',
      text: '',
      content: [{ type: 'tool_result', tool_use_id: 'tu_1', content: 'ping' }],
    });
  });

  it('runs the tool calls of one turn in parallel', async () => {
    const two: MockReply = {
      kind: 'reply',
      blocks: [
        { type: 'tool_use', id: 'a', name: 'barrier', input: { id: 'a' } },
        { type: 'tool_use', id: 'b', name: 'barrier', input: { id: 'b' } },
      ],
    };
    mock.setResponder(scripted([two, textReply('both done')]));
    const { ctx, events } = context({ tools: [barrierTool(2) as Tool] });
    await engine().run(ctx);

    const toolEvents = events.filter((e) => e.type.startsWith('tool.')).map((e) => e.type);
    expect(toolEvents).toEqual(['tool.started', 'tool.started', 'tool.completed', 'tool.completed']);
    expect(lastToolResults(bodies()[1]!)).toEqual([
      { toolUseId: 'a', content: 'a:ok', isError: false },
      { toolUseId: 'b', content: 'b:ok', isError: false },
    ]);
  });

  it('reports invalid input, unknown tools, throwing tools and ToolErrors as error results', async () => {
    const turn: MockReply = {
      kind: 'reply',
      blocks: [
        { type: 'tool_use', id: 'bad', name: 'echo', input: { text: 42 } },
        { type: 'tool_use', id: 'unk', name: 'nope', input: {} },
        { type: 'tool_use', id: 'thr', name: 'boom', input: {} },
        { type: 'tool_use', id: 'ref', name: 'refuse', input: { path: '../etc' } },
      ],
    };
    mock.setResponder(scripted([turn, textReply('ok')]));
    const { ctx, events } = context({
      tools: [echoTool as Tool, throwingTool as Tool, refusingTool as Tool],
    });
    const result = await engine().run(ctx);
    expect(result.stopReason).toBe('end_turn');

    const results = lastToolResults(bodies()[1]!);
    expect(results.map((r) => [r.toolUseId, r.isError])).toEqual([
      ['bad', true],
      ['unk', true],
      ['thr', true],
      ['ref', true],
    ]);
    expect(results[0]?.content).toContain('Invalid input for tool "echo"');
    expect(results[0]?.content).toMatch(/text/);
    expect(results[1]?.content).toContain('Unknown tool "nope"');
    expect(results[2]?.content).toContain('kaboom');
    expect(results[3]?.content).toBe('path "../etc" is outside the workspace');
    const completed = events.filter((e) => e.type === 'tool.completed');
    expect(completed.every((e) => (e.data as { isError: boolean }).isError)).toBe(true);
  });

  it('retries a 429 honouring retry-after, with a notice', async () => {
    mock.setResponder(
      failFirst(
        1,
        { kind: 'error', status: 429, type: 'rate_limit_error', retryAfterS: 0.3 },
        scripted([textReply('ok')]),
      ),
    );
    const { ctx, events } = context();
    const started = Date.now();
    const result = await engine().run(ctx);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(result.finalText).toBe('ok');
    expect(bodies()).toHaveLength(2);
    expect(notices(events)).toHaveLength(1);
    expect(notices(events)[0]).toMatch(/429/);
  });

  it('retries 529 overloaded twice then succeeds', async () => {
    mock.setResponder(
      failFirst(2, { kind: 'error', status: 529, type: 'overloaded_error' }, scripted([textReply('ok')])),
    );
    const { ctx, events } = context();
    const result = await engine().run(ctx);
    expect(result.finalText).toBe('ok');
    expect(bodies()).toHaveLength(3);
    expect(events.filter((e) => e.type === 'session.notice')).toHaveLength(2);
  });

  it('retries a mid-stream overloaded error', async () => {
    let calls = 0;
    mock.setResponder(() => {
      calls++;
      return calls === 1
        ? { ...toolCall('echo', { text: 'x' }), midStreamError: 'overloaded_error' }
        : textReply('recovered');
    });
    const { ctx, events } = context();
    const result = await engine().run(ctx);
    expect(result.finalText).toBe('recovered');
    expect(bodies()).toHaveLength(2);
    expect(events.some((e) => e.type === 'tool.started')).toBe(false);
    expect(notices(events)[0]).toMatch(/overloaded_error/);
  });

  it('retries a mid-stream error that came after some text, saying the partial reply is discarded', async () => {
    let calls = 0;
    mock.setResponder(() => {
      calls++;
      return calls === 1
        ? { ...textReply('partial answer'), midStreamError: 'api_error' }
        : textReply('full answer');
    });
    const { ctx, events } = context();
    const result = await engine().run(ctx);
    expect(result.finalText).toBe('full answer');
    expect(result.messages.at(-1)).toMatchObject({ role: 'assistant', text: 'full answer' });
    expect(notices(events)[0]).toMatch(/discarded/);
    expect(events.filter((e) => e.type === 'message.assistant')).toHaveLength(1);
  });

  it('aborts while waiting to retry', async () => {
    mock.setResponder(() => ({ kind: 'error', status: 529, type: 'overloaded_error', retryAfterS: 10 }));
    const ac = new AbortController();
    const { ctx, events } = context({ signal: ac.signal });
    const outcome = rejection(engine().run(ctx));
    while (!events.some((e) => e.type === 'session.notice')) await sleep(5);
    const abortedAt = Date.now();
    ac.abort();
    const err = await outcome;
    expect(err.code).toBe('aborted');
    expect(Date.now() - abortedAt).toBeLessThan(150);
    expect(bodies()).toHaveLength(1);
  });

  it('gives up with llm_unavailable when retries are exhausted', async () => {
    mock.setResponder(() => ({ kind: 'error', status: 503, type: 'api_error' }));
    const { ctx } = context();
    const err = await rejection(
      engine(config(), { retry: { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 2 } }).run(ctx),
    );
    expect(err.code).toBe('llm_unavailable');
    expect(bodies()).toHaveLength(3);
  });

  it('fails with llm_error on 400 and llm_auth_error on 401, without retrying', async () => {
    mock.setResponder(() => ({
      kind: 'error',
      status: 400,
      type: 'invalid_request_error',
      message: 'max_tokens: too big',
    }));
    const e400 = await rejection(engine().run(context().ctx));
    expect(e400.code).toBe('llm_error');
    expect(e400.message).toContain('400');
    expect(e400.message).toContain('max_tokens: too big');
    expect(bodies()).toHaveLength(1);

    mock.requests.length = 0;
    mock.setResponder(() => ({
      kind: 'error',
      status: 401,
      type: 'authentication_error',
      message: 'invalid x-api-key',
    }));
    const e401 = await rejection(engine().run(context().ctx));
    expect(e401.code).toBe('llm_auth_error');
    expect(e401.message).toContain('invalid x-api-key');
    expect(bodies()).toHaveLength(1);
  });

  it('fails with missing_api_key before any request', async () => {
    const cfg = config();
    cfg.anthropicApiKey = undefined;
    const err = await rejection(engine(cfg).run(context().ctx));
    expect(err.code).toBe('missing_api_key');
    expect(err.message).toBe('ANTHROPIC_API_KEY is not set: the native engine cannot call the LLM');
    expect(mock.requests).toHaveLength(0);
  });

  it('aborts promptly during a long tool, and the tool sees the abort', async () => {
    mock.setResponder(scripted([toolCall('sleep', { seconds: 30 }), textReply('never')]));
    const probe: SleepProbe = { aborted: false, started: false };
    const ac = new AbortController();
    const { ctx } = context({
      tools: [sleepTool(probe) as Tool],
      signal: ac.signal,
    });
    const run = engine().run(ctx);
    const outcome = rejection(run);
    while (!probe.started) await sleep(5);
    await sleep(50);
    const abortedAt = Date.now();
    ac.abort();
    const err = await outcome;
    expect(Date.now() - abortedAt).toBeLessThan(150);
    expect(err.code).toBe('aborted');
    expect(err.message).toBe('run interrupted');
    expect(probe.aborted).toBe(true);
    expect(bodies()).toHaveLength(1);
  });

  it('aborts a streaming request', async () => {
    mock.setResponder(() => textReply('x'.repeat(400), { chunkSize: 1, deltaDelayMs: 20 }));
    const ac = new AbortController();
    const { ctx, events } = context({ signal: ac.signal });
    const outcome = rejection(engine().run(ctx));
    while (!events.some((e) => e.type === 'text.delta')) await sleep(5);
    const abortedAt = Date.now();
    ac.abort();
    const err = await outcome;
    expect(err.code).toBe('aborted');
    expect(Date.now() - abortedAt).toBeLessThan(150);
  });

  it('stops at max_turns (not an error) and reports max_tokens', async () => {
    mock.setResponder(() => toolCall('echo', { text: 'again' }));
    const { ctx } = context();
    const result = await engine(config({ AGENT_MAX_TURNS: '2' })).run(ctx);
    expect(result.stopReason).toBe('max_turns');
    expect(bodies()).toHaveLength(2);
    // The executed tool results of the last turn are kept, so the next run's history is complete.
    expect(result.messages.at(-1)?.role).toBe('user');

    mock.requests.length = 0;
    mock.setResponder(scripted([textReply('truncat', { stopReason: 'max_tokens' })]));
    const r2 = await engine().run(context().ctx);
    expect(r2.stopReason).toBe('max_tokens');
    expect(r2.finalText).toBe('truncat');
  });

  it('sums usage over turns and prices it', async () => {
    mock.setResponder(
      scripted([
        { ...toolCall('echo', { text: 'a' }), usage: { inputTokens: 1000, outputTokens: 100 } },
        textReply('done', { usage: { inputTokens: 2000, outputTokens: 50 } }),
      ]),
    );
    const result = await engine().run(context().ctx);
    expect(result.usage.inputTokens).toBe(3000);
    expect(result.usage.outputTokens).toBe(150);
    expect(result.usage.costUsd).toBeCloseTo(
      costUsd('claude-sonnet-4-6', { inputTokens: 3000, outputTokens: 150 }),
      9,
    );
    expect(result.usage.costUsd).toBeCloseTo(0.009 + 0.00225, 9);
  });

  it('replays history with earlier tool turns as a valid conversation', async () => {
    mock.setResponder(scripted([], { fallback: textReply('fine') }));
    const rec = (role: 'user' | 'assistant', text: string, content?: unknown): MessageRecord => ({
      id: `m${Math.random()}`,
      sessionId: 'ses_1',
      role,
      text,
      content,
      createdAt: new Date().toISOString(),
    });
    // A first run through the engine provides faithful records…
    mock.setResponder(
      scripted([toolCall('echo', { text: 'one' }, { id: 'tu_h' }), textReply('first run done')]),
    );
    const first = await engine().run(context({ input: 'run one' }).ctx);
    const history: MessageRecord[] = first.messages.map((m) => rec(m.role, m.text, m.content));
    // …then a failed run left a lone user message, and a text-only record from another engine.
    history.push(rec('user', 'this run failed'));
    history.push(rec('assistant', 'text only reply'));

    mock.requests.length = 0;
    mock.setResponder(scripted([], { fallback: textReply('fine') }));
    const second = await engine().run(context({ input: 'run two', history }).ctx);
    expect(second.finalText).toBe('fine');
    const sent = stripCache(bodies()[0]!.messages);
    expect(conversationProblems(sent)).toEqual([]);
    expect(sent).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'run one' }] },
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: 'tu_h', name: 'echo', input: { text: 'one' } }],
      },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 'tu_h', content: 'one' }],
      },
      { role: 'assistant', content: [{ type: 'text', text: 'first run done' }] },
      { role: 'user', content: [{ type: 'text', text: 'this run failed' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'text only reply' }] },
      { role: 'user', content: [{ type: 'text', text: 'run two' }] },
    ]);
    // One cache breakpoint on the newest block.
    const raw = bodies()[0]!.messages;
    expect(JSON.stringify(raw.slice(0, -1))).not.toContain('cache_control');
    expect(JSON.stringify(raw.at(-1))).toContain('cache_control');
  });
});
