// The CLI's live view: one readable line per event with the elapsed time, streamed text joined,
// tool output indented, colours only on a terminal.
import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EventRenderer, summarizeInput } from '../../src/cli/render.ts';
import type { Event } from '../../src/protocol/index.ts';

class Sink extends Writable {
  text = '';
  isTTY: boolean;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  hasColors(): boolean {
    return this.isTTY;
  }
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

let seq = 0;
const ev = (type: Event['type'], data: unknown): Event =>
  ({ seq: ++seq, sessionId: 's', runId: 'r', type, ts: new Date(0).toISOString(), data }) as Event;

function run(tty: boolean): string {
  const out = new Sink(tty);
  let now = 1_000;
  const r = new EventRenderer({ out, startedAt: 1_000, now: () => now });
  r.render(ev('run.started', { attempt: 1, engine: 'native', model: 'm' }));
  r.render(ev('text.delta', { text: 'Hel' }));
  r.render(ev('text.delta', { text: 'lo' }));
  r.render(ev('message.assistant', { text: 'Hello' }));
  now = 62_500;
  r.render(ev('tool.started', { toolUseId: 't', name: 'bash', input: { command: 'ls\n -la' } }));
  r.render(ev('tool.output', { toolUseId: 't', stream: 'stdout', chunk: 'a\nb\n' }));
  r.render(
    ev('tool.completed', { toolUseId: 't', name: 'bash', isError: false, output: 'a', durationMs: 1234 }),
  );
  r.render(
    ev('run.completed', {
      stopReason: 'end_turn',
      usage: { inputTokens: 10, outputTokens: 2, costUsd: 0.5 },
    }),
  );
  r.end();
  return out.text;
}

describe('EventRenderer', () => {
  it('writes plain lines off a terminal', () => {
    expect(run(false)).toBe(
      [
        '[00:00] ▶ run started · native · m · attempt 1',
        '[00:00] Hello',
        '[01:01] ⚙ bash  ls -la',
        '    a',
        '    b',
        '[01:01] ✓ bash (1.2s)',
        '[01:01] ■ completed (end_turn) · 10 in / 2 out · $0.5000',
        '',
      ].join('\n'),
    );
  });

  it('colours on a terminal', () => {
    const text = run(true);
    expect(text).toContain('\u001b[');
    expect(stripVTControlCharacters(text)).toBe(run(false));
  });

  it('summarises tool inputs in one bounded line', () => {
    expect(summarizeInput('fs', { operation: 'read', path: 'a.txt' })).toBe('a.txt');
    expect(summarizeInput('x', { n: 1 })).toBe('{"n":1}');
    expect(summarizeInput('bash', { command: 'x'.repeat(500) })).toHaveLength(158);
  });
});
