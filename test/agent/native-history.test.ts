import { describe, expect, it } from 'vitest';
import {
  type ApiMessage,
  contentText,
  conversationProblems,
  type HistoryRecord,
  LEADING_USER_PLACEHOLDER,
  MISSING_RESULT_TEXT,
  toAnthropicMessages,
} from '../../src/agent/history.ts';

function expectValidConversation(messages: ApiMessage[]): void {
  expect(conversationProblems(messages)).toEqual([]);
}

const u = (text: string, content?: unknown): HistoryRecord => ({ role: 'user', text, content });
const a = (text: string, content?: unknown): HistoryRecord => ({ role: 'assistant', text, content });

describe('toAnthropicMessages', () => {
  it('uses text when there is no content and appends the input', () => {
    const out = toAnthropicMessages([u('hi'), a('hello')], 'next');
    expect(out).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'hi' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'hello' }] },
      { role: 'user', content: [{ type: 'text', text: 'next' }] },
    ]);
  });

  it('keeps faithful tool turns from content', () => {
    const history = [
      u('list files', [{ type: 'text', text: 'list files' }]),
      a('Looking.', [
        { type: 'text', text: 'Looking.', citations: null },
        { type: 'tool_use', id: 't1', name: 'bash', input: { command: 'ls' } },
      ]),
      u('', [{ type: 'tool_result', tool_use_id: 't1', content: 'a.txt', is_error: false }]),
      a('There is a.txt', [{ type: 'text', text: 'There is a.txt' }]),
    ];
    const out = toAnthropicMessages(history, 'thanks');
    expectValidConversation(out);
    expect(out).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'list files' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Looking.' },
          { type: 'tool_use', id: 't1', name: 'bash', input: { command: 'ls' } },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'a.txt' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'There is a.txt' }] },
      { role: 'user', content: [{ type: 'text', text: 'thanks' }] },
    ]);
  });

  it('merges consecutive messages of the same role (e.g. a run that failed before replying)', () => {
    const out = toAnthropicMessages([u('first'), u('second'), a('x'), a('y')], 'third');
    expect(out).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'first' },
          { type: 'text', text: 'second' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'x' },
          { type: 'text', text: 'y' },
        ],
      },
      { role: 'user', content: [{ type: 'text', text: 'third' }] },
    ]);
  });

  it('merges the input into a trailing user message of tool results', () => {
    const out = toAnthropicMessages(
      [
        u('go'),
        a('', [{ type: 'tool_use', id: 't1', name: 'bash', input: {} }]),
        u('', [{ type: 'tool_result', tool_use_id: 't1', content: 'ok' }]),
      ],
      'continue',
    );
    expectValidConversation(out);
    expect(out.at(-1)).toEqual({
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 't1', content: 'ok' },
        { type: 'text', text: 'continue' },
      ],
    });
  });

  it('drops the tool_use blocks of a trailing incomplete assistant turn', () => {
    const out = toAnthropicMessages(
      [
        u('go'),
        a('Running', [
          { type: 'text', text: 'Running' },
          { type: 'tool_use', id: 't9', name: 'bash', input: { command: 'sleep 30' } },
        ]),
      ],
      'what happened?',
    );
    expectValidConversation(out);
    expect(out[1]).toEqual({ role: 'assistant', content: [{ type: 'text', text: 'Running' }] });
    // Only tool_use: the whole turn goes, and the user messages merge.
    const out2 = toAnthropicMessages(
      [u('go'), a('', [{ type: 'tool_use', id: 't9', name: 'bash', input: {} }])],
      'again',
    );
    expect(out2).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'go' },
          { type: 'text', text: 'again' },
        ],
      },
    ]);
  });

  it('fills missing tool results and reorders results first', () => {
    const out = toAnthropicMessages(
      [
        u('go'),
        a('', [
          { type: 'tool_use', id: 't1', name: 'bash', input: {} },
          { type: 'tool_use', id: 't2', name: 'fs', input: {} },
        ]),
        u('', [
          { type: 'text', text: 'note' },
          { type: 'tool_result', tool_use_id: 't2', content: 'two' },
        ]),
        a('done'),
      ],
      'ok',
    );
    expectValidConversation(out);
    expect(out[2]).toEqual({
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 't1', content: MISSING_RESULT_TEXT, is_error: true },
        { type: 'tool_result', tool_use_id: 't2', content: 'two' },
        { type: 'text', text: 'note' },
      ],
    });
  });

  it('turns orphan tool results into text and fixes a leading assistant turn', () => {
    const out = toAnthropicMessages(
      [
        a('hello there'),
        u('', [{ type: 'tool_result', tool_use_id: 'gone', content: 'stale output', is_error: true }]),
      ],
      'hi',
    );
    expectValidConversation(out);
    expect(out[0]).toEqual({ role: 'user', content: [{ type: 'text', text: LEADING_USER_PLACEHOLDER }] });
    expect(out[2]?.content[0]).toEqual({
      type: 'text',
      text: '[result of an earlier tool call gone (error)]\nstale output',
    });
    expect(out[2]?.content[1]).toEqual({ type: 'text', text: 'hi' });
  });

  it('drops empty and unknown blocks, thinking, and records with nothing to say', () => {
    const out = toAnthropicMessages(
      [
        u(''),
        u('q', [{ type: 'text', text: '' }]),
        a('answer', [
          { type: 'thinking', thinking: 'hmm', signature: 'sig' },
          { type: 'server_tool_use', id: 's', name: 'web_search', input: {} },
          { type: 'text', text: 'answer' },
        ]),
        a('', 42),
      ],
      'more',
    );
    expectValidConversation(out);
    expect(out).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'q' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'answer' }] },
      { role: 'user', content: [{ type: 'text', text: 'more' }] },
    ]);
  });

  it('accepts string content and drops duplicate tool_use ids', () => {
    const out = toAnthropicMessages(
      [
        u('x', 'from content'),
        a('', [
          { type: 'tool_use', id: 'd', name: 'bash', input: { command: 'a' } },
          { type: 'tool_use', id: 'd', name: 'bash', input: { command: 'b' } },
        ]),
        u('', [{ type: 'tool_result', tool_use_id: 'd', content: [{ type: 'text', text: 'r' }] }]),
      ],
      'y',
    );
    expectValidConversation(out);
    expect(out[0]).toEqual({ role: 'user', content: [{ type: 'text', text: 'from content' }] });
    expect(out[1]?.content).toHaveLength(1);
    expect(out[2]?.content[0]).toEqual({
      type: 'tool_result',
      tool_use_id: 'd',
      content: [{ type: 'text', text: 'r' }],
    });
  });

  it('conversationProblems finds what the API would reject', () => {
    expect(
      conversationProblems([
        { role: 'assistant', content: [{ type: 'tool_use', id: 'a', name: 'x', input: {} }] },
        { role: 'user', content: [{ type: 'text', text: '' }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'b' }] },
      ]),
    ).toHaveLength(5);
  });

  it('contentText joins text blocks', () => {
    expect(
      contentText([{ type: 'text', text: 'a' }, { type: 'tool_use' }, { type: 'text', text: 'b' }]),
    ).toBe('a\n\nb');
    expect(contentText('plain')).toBe('plain');
    expect(contentText(undefined)).toBe('');
  });
});
