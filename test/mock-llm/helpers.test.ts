import { describe, expect, it } from 'vitest';
import {
  byMarker,
  failFirst,
  lastToolResults,
  type MessagesRequest,
  type MockTurn,
  type RequestInfo,
  scripted,
  streamingText,
  textReply,
  toolCall,
} from '../../src/mock-llm/index.ts';

const info: RequestInfo = { index: 0, headers: {} };

function req(messages: MessagesRequest['messages'], extra: Partial<MessagesRequest> = {}): MessagesRequest {
  return { model: 'm', max_tokens: 10, messages, ...extra };
}

async function call(
  r: (q: MessagesRequest, i: RequestInfo) => MockTurn | Promise<MockTurn>,
  q: MessagesRequest,
) {
  return await r(q, info);
}

describe('reply builders', () => {
  it('textReply and toolCall', () => {
    expect(textReply('hi')).toEqual({ kind: 'reply', blocks: [{ type: 'text', text: 'hi' }] });
    expect(textReply('hi', { stopReason: 'max_tokens', chunkSize: 3 })).toMatchObject({
      kind: 'reply',
      stopReason: 'max_tokens',
      chunkSize: 3,
    });
    expect(toolCall('bash', { command: 'ls' })).toEqual({
      kind: 'reply',
      blocks: [{ type: 'tool_use', name: 'bash', input: { command: 'ls' } }],
    });
    expect(toolCall('bash', { command: 'ls' }, { id: 'toolu_x', text: 'Listing' }).blocks).toEqual([
      { type: 'text', text: 'Listing' },
      { type: 'tool_use', id: 'toolu_x', name: 'bash', input: { command: 'ls' } },
    ]);
  });

  it('streamingText gives every request a reply of the requested length', async () => {
    const r = streamingText(1234, { chunkSize: 7, deltaDelayMs: 2 });
    const t = await call(r, req([{ role: 'user', content: 'x' }]));
    expect(t.kind).toBe('reply');
    if (t.kind === 'reply') {
      const b = t.blocks[0];
      expect(b?.type === 'text' ? b.text.length : 0).toBe(1234);
      expect(t.chunkSize).toBe(7);
      expect(t.deltaDelayMs).toBe(2);
    }
  });
});

describe('scripted', () => {
  const turns: MockTurn[] = [textReply('zero'), textReply('one')];
  it('is stateless and positional', async () => {
    const r = scripted(turns);
    const first = req([{ role: 'user', content: 'a' }]);
    expect(await call(r, first)).toBe(turns[0]);
    expect(await call(r, first)).toBe(turns[0]); // a retry gets the same turn
    const second = req([
      { role: 'user', content: 'a' },
      { role: 'assistant', content: [{ type: 'text', text: 'zero' }] },
      { role: 'user', content: 'b' },
    ]);
    expect(await call(r, second)).toBe(turns[1]);
  });
  it('falls back beyond the end', async () => {
    const many = req([
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'x' },
      { role: 'user', content: 'b' },
      { role: 'assistant', content: 'y' },
      { role: 'user', content: 'c' },
    ]);
    expect(await call(scripted(turns), many)).toEqual(textReply('done'));
    const fb = textReply('custom');
    expect(await call(scripted(turns, { fallback: fb }), many)).toBe(fb);
  });
});

describe('failFirst', () => {
  it('fails the first n requests, then delegates', async () => {
    const err: MockTurn = { kind: 'error', status: 529, type: 'overloaded_error' };
    const r = failFirst(2, { kind: 'error', status: 529, type: 'overloaded_error' }, () => textReply('ok'));
    const q = req([{ role: 'user', content: 'a' }]);
    expect(await call(r, q)).toEqual(err);
    expect(await call(r, q)).toEqual(err);
    expect(await call(r, q)).toEqual(textReply('ok'));
  });
});

describe('byMarker', () => {
  const r = byMarker({ a: () => textReply('A'), b: () => textReply('B') }, () => textReply('F'));
  it('reads the first user message (string or text blocks) and the system prompt', async () => {
    expect(await call(r, req([{ role: 'user', content: 'go [[script:a]]' }]))).toEqual(textReply('A'));
    expect(
      await call(
        r,
        req([
          {
            role: 'user',
            content: [
              { type: 'text', text: '<system-reminder>env</system-reminder>' },
              { type: 'text', text: 'task [[script:b]]' },
            ],
          },
        ]),
      ),
    ).toEqual(textReply('B'));
    expect(
      await call(
        r,
        req([{ role: 'user', content: 'none' }], { system: [{ type: 'text', text: '[[script:a]]' }] }),
      ),
    ).toEqual(textReply('A'));
    expect(await call(r, req([{ role: 'user', content: 'none' }], { system: 'x [[script:b]] y' }))).toEqual(
      textReply('B'),
    );
  });
  it('ignores markers in later messages and falls back', async () => {
    const q = req([
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: '[[script:a]]' },
    ]);
    expect(await call(r, q)).toEqual(textReply('F'));
    expect(await call(r, req([{ role: 'user', content: '[[script:nope]]' }]))).toEqual(textReply('F'));
    expect(await call(byMarker({}), req([{ role: 'user', content: 'x' }]))).toEqual(textReply('done'));
  });
});

describe('lastToolResults', () => {
  it('flattens the tool_result blocks of the last user message', () => {
    const q = req([
      { role: 'user', content: 'go' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 't1', name: 'bash', input: {} },
          { type: 'tool_use', id: 't2', name: 'fs', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 't1', content: 'plain output' },
          {
            type: 'tool_result',
            tool_use_id: 't2',
            is_error: true,
            content: [
              { type: 'text', text: 'line 1' },
              { type: 'text', text: 'line 2' },
            ],
          },
          { type: 'text', text: 'not a tool result' },
        ],
      },
    ]);
    expect(lastToolResults(q)).toEqual([
      { toolUseId: 't1', content: 'plain output', isError: false },
      { toolUseId: 't2', content: 'line 1\nline 2', isError: true },
    ]);
    expect(lastToolResults(req([{ role: 'user', content: 'text only' }]))).toEqual([]);
  });
});
