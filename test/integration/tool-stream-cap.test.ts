// A tool that prints without end must not fill the database or every subscriber's stream: what is
// stored and streamed as `tool.output` is capped per tool call (TOOL_STREAM_LIMIT_BYTES) and per
// run (RUN_STREAM_LIMIT_BYTES), each truncated call ends with one notice chunk, and the tool's
// result (tool.completed) and the run are unaffected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockLlm, scripted, textReply, toolCall } from '../../src/mock-llm/index.ts';
import { OutputBudget } from '../../src/runs/output-budget.ts';
import { waitForRunEnd } from '../helpers/events.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { api, json, type TestServer } from '../helpers/server.ts';

const PER_CALL = 64 * 1024;
const PER_RUN = 100_000;
const TRUNCATED = /\[output truncated: (\d+) more bytes not streamed/;

type Ev = { seq: number; type: string; data: Record<string, unknown> };

/** Every event of the session, all pages. */
async function events(base: string, sessionId: string): Promise<Ev[]> {
  const all: Ev[] = [];
  for (;;) {
    const page = await json<{ items: Ev[] }>(
      await api(base, 'GET', `/api/sessions/${sessionId}/events?after=${all.at(-1)?.seq ?? 0}&limit=1000`),
    );
    all.push(...page.items);
    if (page.items.length < 1000) return all;
  }
}

describe('tool.output stream caps', () => {
  let server: TestServer;
  let mock: MockLlm;
  beforeAll(async () => {
    ({ mock, server } = await startMockedServer(
      { responder: () => textReply('ok') },
      {
        ANTHROPIC_API_KEY: 'k',
        TOOL_STREAM_LIMIT_BYTES: String(PER_CALL),
        RUN_STREAM_LIMIT_BYTES: String(PER_RUN),
      },
    ));
  });
  afterAll(() => closeMockedServer(server, mock));

  it('stores at most the limits, ends each truncated call with a notice, and keeps the run whole', async () => {
    mock.setResponder(
      scripted([
        // 3 MB in one call: cut at the per-call limit
        toolCall('bash', { command: "head -c 3000000 /dev/zero | tr '\\0' a; echo; echo done-1" }),
        // 60 KB: under the per-call limit, but the run has only ~36 KB left
        toolCall('bash', { command: "head -c 60000 /dev/zero | tr '\\0' b; echo done-2" }),
        // the run's budget is spent: nothing of this one is streamed
        toolCall('bash', { command: 'echo small-3' }),
        textReply('finished'),
      ]),
    );
    const { id } = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    await api(server.url, 'POST', `/api/sessions/${id}/messages`, { content: 'print a lot' });
    await waitForRunEnd(server.url, id, 60_000);
    const evs = await events(server.url, id);
    expect(evs.at(-1)?.type).toBe('run.completed');
    const calls = evs.filter((e) => e.type === 'tool.started').map((e) => String(e.data.toolUseId));
    expect(calls.length).toBe(3);
    const streamed = (toolUseId: string) =>
      evs
        .filter((e) => e.type === 'tool.output' && e.data.toolUseId === toolUseId)
        .map((e) => String(e.data.chunk))
        .join('');
    const [one, two, three] = calls.map(streamed) as [string, string, string];

    const bytes = (s: string) => Buffer.byteLength(s.replace(/\n\[output truncated:[^\]]*\]\n$/, ''));
    expect(bytes(one)).toBe(PER_CALL);
    expect(one).toMatch(TRUNCATED);
    expect(one).toContain('TOOL_STREAM_LIMIT_BYTES');
    expect(Number(TRUNCATED.exec(one)![1])).toBe(3_000_000 + 1 + 'done-1\n'.length - PER_CALL);
    expect(bytes(two)).toBe(PER_RUN - PER_CALL);
    expect(two).toContain('RUN_STREAM_LIMIT_BYTES');
    expect(bytes(three)).toBe(0);
    expect(Number(TRUNCATED.exec(three)![1])).toBe('small-3\n'.length);
    // exactly one notice per truncated call, and it comes before the call's result
    for (const tu of calls) {
      const mine = evs.filter((e) => e.data.toolUseId === tu);
      expect(mine.filter((e) => TRUNCATED.test(String(e.data.chunk ?? ''))).length).toBe(1);
      expect(mine.at(-1)?.type).toBe('tool.completed');
    }
    // the results are the tools' own (capped by TOOL_OUTPUT_LIMIT, not by the stream caps)
    const results = evs.filter((e) => e.type === 'tool.completed').map((e) => String(e.data.output));
    expect(results[0]).toContain('done-1');
    expect(results[2]).toContain('small-3');
    // and nothing near the 3 MB reached the database
    const total = evs
      .filter((e) => e.type === 'tool.output')
      .reduce((n, e) => n + Buffer.byteLength(String(e.data.chunk)), 0);
    expect(total).toBeLessThan(PER_RUN + 1_000);
  });

  it('a new run has a new budget', async () => {
    mock.setResponder(scripted([toolCall('bash', { command: 'echo fresh-run' }), textReply('ok')]));
    const { id } = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    await api(server.url, 'POST', `/api/sessions/${id}/messages`, { content: 'again' });
    const evs = await waitForRunEnd(server.url, id);
    const out = evs.filter((e) => e.type === 'tool.output').map((e) => String(e.data.chunk));
    expect(out.join('')).toBe('fresh-run\n');
  });
});

describe('OutputBudget', () => {
  it('cuts on a character boundary and counts what it dropped', () => {
    const b = new OutputBudget({ perCallBytes: 5, perRunBytes: 100 });
    expect(b.admit('a', 'stdout', 'ab')).toBe('ab');
    expect(b.admit('a', 'stdout', 'cé€')).toBe('cé'); // 1 + 2 bytes fit, the 3-byte € does not
    expect(b.admit('a', 'stderr', 'more')).toBeUndefined();
    expect(b.finish('a')).toEqual({
      stream: 'stderr',
      chunk: expect.stringContaining(
        '[output truncated: 7 more bytes not streamed (TOOL_STREAM_LIMIT_BYTES=5',
      ),
    });
    expect(b.finish('a')).toBeUndefined(); // once
    expect(b.admit('b', 'stdout', 'fine')).toBe('fine');
    expect(b.finish('b')).toBeUndefined(); // nothing dropped, no notice
  });
});
