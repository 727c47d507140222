import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  byMarker,
  failFirst,
  type MockLlm,
  type RecordedRequest,
  scripted,
  startMockLlm,
  streamingText,
  textReply,
  toolCall,
} from '../../src/mock-llm/index.ts';
import { sleep } from '../helpers/sleep.ts';

let mock: MockLlm;

beforeAll(async () => {
  mock = await startMockLlm();
});
afterAll(async () => {
  await mock.close();
});
afterEach(() => {
  mock.setResponder(() => textReply('done'));
});

function client(opts: { maxRetries?: number; apiKey?: string; baseURL?: string } = {}): Anthropic {
  return new Anthropic({
    apiKey: opts.apiKey ?? 'test',
    baseURL: opts.baseURL ?? mock.url,
    maxRetries: opts.maxRetries ?? 0,
  });
}

const USER = [{ role: 'user' as const, content: 'hello' }];

function messagesSince(start: number): RecordedRequest[] {
  return mock.requests.filter((r) => r.index >= start && r.path === '/v1/messages');
}

function nextIndex(): number {
  const last = mock.requests[mock.requests.length - 1];
  return last ? last.index + 1 : 0;
}

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

async function rawStream(body: Record<string, unknown>): Promise<{ res: Response; events: SseEvent[] }> {
  const res = await fetch(`${mock.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'test' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const text = await res.text();
  const events: SseEvent[] = [];
  for (const frame of text.split('\n\n')) {
    if (!frame.trim()) continue;
    const ev = /^event: (.*)$/m.exec(frame)?.[1] ?? '';
    const data = /^data: (.*)$/m.exec(frame)?.[1] ?? '{}';
    events.push({ event: ev, data: JSON.parse(data) as Record<string, unknown> });
  }
  return { res, events };
}

describe('messages: streaming', () => {
  it('streams text that the SDK reassembles', async () => {
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(5);
    mock.setResponder(() => textReply(text, { chunkSize: 7 }));
    const stream = client().messages.stream({ model: 'claude-test-1', max_tokens: 100, messages: USER });
    const deltas: string[] = [];
    stream.on('text', (d) => deltas.push(d));
    const msg = await stream.finalMessage();
    expect(deltas.length).toBe(Math.ceil(text.length / 7));
    expect(deltas.join('')).toBe(text);
    expect(msg.content).toEqual([expect.objectContaining({ type: 'text', text })]);
    expect(msg.id).toMatch(/^msg_01[A-Za-z0-9]{22}$/);
    expect(msg.model).toBe('claude-test-1');
    expect(msg.role).toBe('assistant');
    expect(msg.type).toBe('message');
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
    expect(msg.usage.output_tokens).toBe(Math.ceil(text.length / 4));
  });

  it('has the exact wire format (event names, ping, message_delta)', async () => {
    mock.setResponder(() => textReply('hello world', { usage: { inputTokens: 11, outputTokens: 3 } }));
    const { res, events } = await rawStream({ model: 'm', max_tokens: 10, messages: USER });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    const names = events.map((e) => e.event);
    expect(names[0]).toBe('message_start');
    expect(names).toContain('ping');
    expect(names.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    for (const e of events) expect(e.data.type).toBe(e.event);
    const start = events[0]?.data.message as Record<string, unknown>;
    expect(start).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'm',
      content: [],
      stop_reason: null,
    });
    expect(start.usage).toMatchObject({
      input_tokens: 11,
      output_tokens: 1,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    });
    const delta = events.find((e) => e.event === 'message_delta')?.data;
    expect(delta).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 3 },
    });
  });

  it('streams tool_use input as several input_json_delta chunks the SDK reassembles exactly', async () => {
    const input = {
      location: 'Paris, France',
      unit: 'celsius',
      nested: { list: [1, 2, 3, { deep: true }], emoji: 'héllo 😀 "quoted" \\ back', empty: {} },
    };
    mock.setResponder(() =>
      toolCall('get_weather', input, { text: 'Checking the weather.', id: 'toolu_fixed' }),
    );
    const stream = client().messages.stream({
      model: 'claude-test',
      max_tokens: 100,
      messages: USER,
      tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
    });
    let jsonEvents = 0;
    stream.on('inputJson', () => {
      jsonEvents++;
    });
    const msg = await stream.finalMessage();
    expect(jsonEvents).toBeGreaterThan(3);
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.content).toHaveLength(2);
    expect(msg.content[0]).toMatchObject({ type: 'text', text: 'Checking the weather.' });
    expect(msg.content[1]).toEqual({ type: 'tool_use', id: 'toolu_fixed', name: 'get_weather', input });
  });

  it('generates toolu_ ids and handles chunkSize 1 with surrogate pairs', async () => {
    const input = { s: '😀😀 ok' };
    mock.setResponder(() => ({ ...toolCall('t', input), chunkSize: 1 }));
    const msg = await client().messages.stream({ model: 'm', max_tokens: 10, messages: USER }).finalMessage();
    const block = msg.content[0];
    expect(block?.type).toBe('tool_use');
    if (block?.type === 'tool_use') {
      expect(block.id).toMatch(/^toolu_01[A-Za-z0-9]{22}$/);
      expect(block.input).toEqual(input);
    }
  });

  it('streams thinking blocks (thinking_delta + signature_delta)', async () => {
    mock.setResponder(() => ({
      kind: 'reply',
      blocks: [
        { type: 'thinking', thinking: 'Let me think about this carefully.' },
        { type: 'text', text: 'Answer.' },
      ],
    }));
    const msg = await client().messages.stream({ model: 'm', max_tokens: 10, messages: USER }).finalMessage();
    expect(msg.content[0]).toMatchObject({
      type: 'thinking',
      thinking: 'Let me think about this carefully.',
    });
    const first = msg.content[0];
    if (first?.type === 'thinking') expect(first.signature.length).toBeGreaterThan(10);
    expect(msg.content[1]).toMatchObject({ type: 'text', text: 'Answer.' });
  });

  it('sends a mid-stream error event that the SDK surfaces', async () => {
    mock.setResponder(() => ({ ...textReply('partial text'), midStreamError: 'overloaded_error' }));
    const { events } = await rawStream({ model: 'm', max_tokens: 10, messages: USER });
    const names = events.map((e) => e.event);
    expect(names.at(-1)).toBe('error');
    expect(names).not.toContain('message_stop');
    expect(events.at(-1)?.data).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });

    const err = await client()
      .messages.stream({ model: 'm', max_tokens: 10, messages: USER })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(String((err as Error).message)).toContain('overloaded_error');

    const plain = await client()
      .messages.create({ model: 'm', max_tokens: 10, messages: USER })
      .catch((e: unknown) => e);
    expect((plain as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
  });

  it('honours stopReason, stop_sequence and explicit usage', async () => {
    mock.setResponder(() =>
      textReply('cut', { stopReason: 'max_tokens', usage: { inputTokens: 7, outputTokens: 9 } }),
    );
    const msg = await client().messages.stream({ model: 'm', max_tokens: 10, messages: USER }).finalMessage();
    expect(msg.stop_reason).toBe('max_tokens');
    expect(msg.usage).toMatchObject({ input_tokens: 7, output_tokens: 9 });

    mock.setResponder(() => textReply('x', { stopReason: 'stop_sequence' }));
    const msg2 = await client().messages.create({
      model: 'm',
      max_tokens: 10,
      messages: USER,
      stop_sequences: ['END'],
    });
    expect(msg2.stop_reason).toBe('stop_sequence');
    expect(msg2.stop_sequence).toBe('END');
  });
});

describe('messages: non-streaming', () => {
  it('returns a complete message object with usage', async () => {
    mock.setResponder(() => toolCall('bash', { command: 'ls -la' }, { text: 'Listing.' }));
    const msg = await client().messages.create({ model: 'claude-echo', max_tokens: 50, messages: USER });
    expect(msg.id).toMatch(/^msg_/);
    expect(msg.type).toBe('message');
    expect(msg.role).toBe('assistant');
    expect(msg.model).toBe('claude-echo');
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.stop_sequence).toBeNull();
    expect(msg.content[0]).toEqual({ type: 'text', text: 'Listing.' });
    expect(msg.content[1]).toMatchObject({ type: 'tool_use', name: 'bash', input: { command: 'ls -la' } });
    expect(msg.usage).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
    expect(msg.usage.output_tokens).toBeGreaterThan(0);
  });
});

describe('errors', () => {
  it('429 with retry-after: the SDK retries and succeeds', async () => {
    mock.setResponder(
      failFirst(1, { kind: 'error', status: 429, type: 'rate_limit_error', retryAfterS: 0.05 }, () =>
        textReply('after retry'),
      ),
    );
    const start = nextIndex();
    const msg = await client({ maxRetries: 2 }).messages.create({
      model: 'm',
      max_tokens: 10,
      messages: USER,
    });
    expect(msg.content[0]).toMatchObject({ text: 'after retry' });
    const seen = messagesSince(start);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.headers['x-stainless-retry-count']).toBe('1');
  });

  it('429 wire format: status, retry-after, request-id, error body', async () => {
    mock.setResponder(() => ({ kind: 'error', status: 429, type: 'rate_limit_error', retryAfterS: 3 }));
    const res = await fetch(`${mock.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', max_tokens: 5, messages: USER }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      type: 'error',
      error: { type: 'rate_limit_error', message: expect.any(String) },
    });
  });

  it('529 overloaded reaches the SDK as an APIError with status 529', async () => {
    mock.setResponder(() => ({
      kind: 'error',
      status: 529,
      type: 'overloaded_error',
      message: 'Overloaded',
    }));
    const err = await client()
      .messages.create({ model: 'm', max_tokens: 10, messages: USER })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    const apiErr = err as InstanceType<typeof Anthropic.APIError>;
    expect(apiErr.status).toBe(529);
    expect(apiErr.error).toMatchObject({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
    });
    expect(apiErr.requestID).toMatch(/^req_/);
  });

  it('400 invalid_request_error on bad bodies', async () => {
    const post = async (body: string): Promise<{ status: number; json: Record<string, unknown> }> => {
      const res = await fetch(`${mock.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const cases = [
      '{not json',
      '',
      '[]',
      JSON.stringify({ max_tokens: 5, messages: USER }),
      JSON.stringify({ model: 'm', max_tokens: 5 }),
      JSON.stringify({ model: 'm', messages: USER }),
      JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'robot', content: 'x' }] }),
    ];
    for (const body of cases) {
      const r = await post(body);
      expect(r.status, body).toBe(400);
      expect(r.json).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    }
    const missing = await post(JSON.stringify({ model: 'm', messages: USER }));
    expect((missing.json.error as { message: string }).message).toContain('max_tokens');
  });

  it('a throwing responder gives 500 api_error and the server keeps serving', async () => {
    mock.setResponder(() => {
      throw new Error('boom');
    });
    const err = await client()
      .messages.create({ model: 'm', max_tokens: 10, messages: USER })
      .catch((e: unknown) => e);
    expect((err as InstanceType<typeof Anthropic.APIError>).status).toBe(500);
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      error: { type: 'api_error' },
    });
    mock.setResponder(async () => {
      throw new Error('async boom');
    });
    const err2 = await client()
      .messages.create({ model: 'm', max_tokens: 10, messages: USER })
      .catch((e: unknown) => e);
    expect((err2 as InstanceType<typeof Anthropic.APIError>).status).toBe(500);
    mock.setResponder(() => textReply('alive'));
    const ok = await client().messages.create({ model: 'm', max_tokens: 10, messages: USER });
    expect(ok.content[0]).toMatchObject({ text: 'alive' });
  });

  it('unknown paths → 404 not_found_error in API format', async () => {
    const res = await fetch(`${mock.url}/v1/nothing-here`);
    expect(res.status).toBe(404);
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });
});

describe('auth', () => {
  it('requireApiKey: 401 authentication_error unless x-api-key or Bearer matches', async () => {
    const secured = await startMockLlm({ requireApiKey: 'sk-right' });
    try {
      const err = await client({ baseURL: secured.url, apiKey: 'sk-wrong' })
        .messages.create({ model: 'm', max_tokens: 10, messages: USER })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
      expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
        type: 'error',
        error: { type: 'authentication_error' },
      });
      const ok = await client({ baseURL: secured.url, apiKey: 'sk-right' }).messages.create({
        model: 'm',
        max_tokens: 10,
        messages: USER,
      });
      expect(ok.content[0]).toMatchObject({ text: 'done' });
      const bearer = await fetch(`${secured.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-right' },
        body: JSON.stringify({ model: 'm', max_tokens: 5, messages: USER }),
      });
      expect(bearer.status).toBe(200);
      const none = await fetch(`${secured.url}/v1/models`);
      expect(none.status).toBe(401);
    } finally {
      await secured.close();
    }
  });
});

describe('other endpoints', () => {
  it('count_tokens ≈ chars / 4', async () => {
    const long = 'x'.repeat(4000);
    const r = await client().messages.countTokens({
      model: 'm',
      messages: [{ role: 'user', content: long }],
    });
    expect(r.input_tokens).toBeGreaterThan(1000);
    expect(r.input_tokens).toBeLessThan(1100);
  });

  it('models list and retrieve', async () => {
    const c = client();
    const page = await c.models.list();
    expect(page.data.length).toBeGreaterThan(2);
    expect(page.data[0]).toMatchObject({ type: 'model', id: expect.stringMatching(/^claude-/) });
    const first = page.data[0]?.id ?? '';
    const one = await c.models.retrieve(first);
    expect(one.id).toBe(first);
    const missing = await fetch(`${mock.url}/v1/models/gpt-4`);
    expect(missing.status).toBe(404);
  });
});

describe('scripting through the server', () => {
  it('scripted picks the turn by the number of assistant messages (retries repeat the turn)', async () => {
    mock.setResponder(
      scripted([toolCall('fs', { operation: 'read', path: 'a' }), textReply('second'), textReply('third')]),
    );
    const c = client();
    const r0 = await c.messages.create({ model: 'm', max_tokens: 10, messages: USER });
    expect(r0.content[0]).toMatchObject({ type: 'tool_use', name: 'fs' });
    const again = await c.messages.create({ model: 'm', max_tokens: 10, messages: USER });
    expect(again.content[0]).toMatchObject({ type: 'tool_use', name: 'fs' });
    const r1 = await c.messages.create({
      model: 'm',
      max_tokens: 10,
      messages: [...USER, { role: 'assistant', content: r0.content }, { role: 'user', content: 'go on' }],
    });
    expect(r1.content[0]).toMatchObject({ text: 'second' });
    const beyond = await c.messages.create({
      model: 'm',
      max_tokens: 10,
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: 'c' },
        { role: 'assistant', content: 'd' },
        { role: 'user', content: 'e' },
        { role: 'assistant', content: 'f' },
        { role: 'user', content: 'g' },
      ],
    });
    expect(beyond.content[0]).toMatchObject({ text: 'done' });
  });

  it('byMarker routes on the [[script:NAME]] marker', async () => {
    mock.setResponder(
      byMarker({ alpha: () => textReply('route alpha'), beta: () => textReply('route beta') }, () =>
        textReply('fallback'),
      ),
    );
    const c = client();
    const ask = async (content: string, system?: string): Promise<unknown> => {
      const r = await c.messages.create({
        model: 'm',
        max_tokens: 10,
        messages: [{ role: 'user', content }],
        ...(system !== undefined ? { system } : {}),
      });
      return r.content[0];
    };
    expect(await ask('please [[script:alpha]] now')).toMatchObject({ text: 'route alpha' });
    expect(await ask('no marker', 'sys [[script:beta]]')).toMatchObject({ text: 'route beta' });
    expect(await ask('no marker')).toMatchObject({ text: 'fallback' });
    expect(await ask('[[script:unknown]]')).toMatchObject({ text: 'fallback' });
  });
});

describe('robustness', () => {
  it('client abort mid-stream does not crash the server', async () => {
    mock.setResponder(() => textReply('y'.repeat(2000), { chunkSize: 10, deltaDelayMs: 5 }));
    const c = client();
    const stream = c.messages.stream({ model: 'm', max_tokens: 10, messages: USER });
    await new Promise<void>((resolve) => {
      let n = 0;
      stream.on('text', () => {
        if (++n === 3) resolve();
      });
    });
    stream.abort();
    await stream.done().catch(() => undefined);
    // A raw connection torn down mid-stream, too.
    const ac = new AbortController();
    const res = await fetch(`${mock.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', max_tokens: 5, messages: USER, stream: true }),
      signal: ac.signal,
    });
    const reader = res.body?.getReader();
    await reader?.read();
    ac.abort();
    await sleep(50);
    mock.setResponder(() => textReply('still here'));
    const ok = await c.messages.stream({ model: 'm', max_tokens: 10, messages: USER }).finalMessage();
    expect(ok.content[0]).toMatchObject({ text: 'still here' });
  });

  it('200 concurrent streams complete', async () => {
    mock.setResponder(streamingText(300, { chunkSize: 10, deltaDelayMs: 1 }));
    const c = client();
    const results = await Promise.all(
      Array.from({ length: 200 }, () =>
        c.messages.stream({ model: 'm', max_tokens: 10, messages: USER }).finalMessage(),
      ),
    );
    expect(results).toHaveLength(200);
    for (const m of results) {
      const b = m.content[0];
      expect(b?.type === 'text' ? b.text.length : -1).toBe(300);
    }
  });

  it('records requests, notifies listeners, caps memory', async () => {
    const small = await startMockLlm({ maxRecorded: 3 });
    try {
      const seen: RecordedRequest[] = [];
      const off = small.onRequest((r) => seen.push(r));
      const c = client({ baseURL: small.url });
      for (let i = 0; i < 5; i++) await c.messages.create({ model: 'm', max_tokens: 10, messages: USER });
      off();
      await c.messages.create({ model: 'm', max_tokens: 10, messages: USER });
      expect(seen).toHaveLength(5);
      expect(small.requests.map((r) => r.index)).toEqual([3, 4, 5]);
      const r = small.requests[0];
      expect(r?.path).toBe('/v1/messages');
      expect(r?.body).toMatchObject({ model: 'm', max_tokens: 10 });
      expect(r?.headers.authorization).toBe('Bearer test'); // SDK v1 sends the key as a Bearer token
      expect(typeof r?.receivedAt).toBe('number');
      expect(small.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(small.port).toBeGreaterThan(0);
    } finally {
      await small.close();
    }
  });

  it('close() ends in-flight streams', async () => {
    const m2 = await startMockLlm({
      responder: () => textReply('z'.repeat(1000), { chunkSize: 1, deltaDelayMs: 20 }),
    });
    const p = client({ baseURL: m2.url })
      .messages.stream({ model: 'm', max_tokens: 10, messages: USER })
      .finalMessage()
      .then(
        () => 'completed',
        () => 'failed',
      );
    await sleep(100);
    await m2.close();
    expect(await p).toBe('failed');
  });
});
