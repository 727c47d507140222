// The dashboard's logic without a browser: folding events into the run view (exactly once, in
// order), terminal colours, diffs from edit inputs, facts read from tool results, stats by shape.
import { describe, expect, it } from 'vitest';
import type { Event } from '../../src/protocol/index.ts';
import { commitOf, inputSummary, pullRequestOf, pushOf, safeHttpUrl } from '../../ui/src/model/facts.ts';
import { type ApprovalItem, type AssistantItem, RunModel, type ToolItem } from '../../ui/src/model/run.ts';
import { alertsOf, percentileRows, scalarFigures } from '../../ui/src/model/stats.ts';
import { parseAnsi } from '../../ui/src/render/ansi.ts';
import { fileEditOf } from '../../ui/src/render/diff.ts';

type Draft = { type: string; data: Record<string, unknown>; runId?: string };

/** Events with seqs 1..n in the given order, on one session and run. */
function events(...drafts: Draft[]): Event[] {
  return drafts.map(
    (d, i) =>
      ({
        seq: i + 1,
        sessionId: 'ses_1',
        runId: d.runId ?? 'run_1',
        ts: new Date(0).toISOString(),
        type: d.type,
        data: d.data,
      }) as Event,
  );
}

const BUGFIX = events(
  { type: 'message.user', data: { text: 'fix it' } },
  { type: 'run.queued', data: { attempt: 1 } },
  { type: 'run.started', data: { attempt: 1, engine: 'native', model: 'm' } },
  { type: 'text.delta', data: { text: 'Let me ' } },
  { type: 'text.delta', data: { text: 'look.' } },
  { type: 'message.assistant', data: { text: 'Let me look.' } },
  { type: 'tool.started', data: { toolUseId: 't1', name: 'bash', input: { command: 'node test.js' } } },
  { type: 'tool.output', data: { toolUseId: 't1', stream: 'stdout', chunk: 'a\n' } },
  { type: 'tool.output', data: { toolUseId: 't1', stream: 'stdout', chunk: 'b\n' } },
  { type: 'tool.output', data: { toolUseId: 't1', stream: 'stderr', chunk: 'warn\n' } },
  {
    type: 'tool.completed',
    data: { toolUseId: 't1', name: 'bash', isError: false, output: 'a\nb', durationMs: 5 },
  },
  {
    type: 'run.completed',
    data: { stopReason: 'end_turn', usage: { inputTokens: 10, outputTokens: 2, costUsd: 0.5 } },
  },
);

describe('RunModel', () => {
  it('folds a run: one text block from its deltas, one card per tool call with merged output', () => {
    const m = new RunModel();
    for (const e of BUGFIX) expect(m.apply(e)).toBe('applied');
    expect(m.items.map((i) => i.kind)).toEqual(['user', 'run', 'run', 'assistant', 'tool', 'run']);
    const text = m.items[3] as AssistantItem;
    expect(text).toMatchObject({ text: 'Let me look.', streaming: false, seqs: [4, 5, 6] });
    const tool = m.items[4] as ToolItem;
    expect(tool.output).toEqual([
      { stream: 'stdout', text: 'a\nb\n' },
      { stream: 'stderr', text: 'warn\n' },
    ]);
    expect(tool.result).toEqual({ isError: false, output: 'a\nb', durationMs: 5 });
    expect(tool.seqs).toEqual([7, 8, 9, 10, 11]);
    expect(m.usage).toEqual({ inputTokens: 10, outputTokens: 2, costUsd: 0.5 });
    expect(m.phase).toBe('idle');
    // Every seq is in exactly one item.
    expect(m.items.flatMap((i) => i.seqs).sort((a, b) => a - b)).toEqual(BUGFIX.map((e) => e.seq));
  });

  it('drops what it has already applied and refuses to skip ahead', () => {
    const m = new RunModel();
    for (const e of BUGFIX.slice(0, 6)) m.apply(e);
    // A resubscription that overlaps what arrived before a drop.
    for (const e of BUGFIX.slice(2, 6)) expect(m.apply(e)).toBe('duplicate');
    expect(m.apply(BUGFIX[7]!)).toBe('gap');
    expect(m.lastSeq).toBe(6);
    for (const e of BUGFIX.slice(6)) expect(m.apply(e)).toBe('applied');
    expect(m.applied).toBe(BUGFIX.length);
    expect((m.items[3] as AssistantItem).text).toBe('Let me look.');
    expect(m.items.filter((i) => i.kind === 'tool')).toHaveLength(1);
  });

  it('keeps the streamed text visible until the turn ends; a turn without deltas is its own block', () => {
    const m = new RunModel();
    const evs = events(
      { type: 'text.delta', data: { text: 'Partial' } },
      { type: 'message.assistant', data: { text: 'Another text' } },
      { type: 'message.assistant', data: { text: 'Second turn' } },
    );
    m.apply(evs[0]!);
    expect(m.items[0]).toMatchObject({ kind: 'assistant', text: 'Partial', streaming: true });
    m.apply(evs[1]!);
    m.apply(evs[2]!);
    expect(m.items.map((i) => (i as AssistantItem).text)).toEqual(['Partial', 'Another text', 'Second turn']);
  });

  it('tracks approvals: pending count, waiting phase, the decision on the same card', () => {
    const m = new RunModel();
    const evs = events(
      { type: 'run.started', data: { attempt: 1, engine: 'native', model: 'm' } },
      { type: 'tool.started', data: { toolUseId: 't1', name: 'git', input: { operation: 'push' } } },
      {
        type: 'approval.requested',
        data: {
          approvalId: 'apr_1',
          toolUseId: 't1',
          name: 'git',
          input: {},
          rule: 'git.push',
          expiresAt: 'x',
        },
      },
      {
        type: 'approval.resolved',
        data: { approvalId: 'apr_1', decision: 'deny', by: 'user', message: 'no' },
      },
    );
    for (const e of evs.slice(0, 3)) m.apply(e);
    expect(m.pendingApprovals).toBe(1);
    expect(m.phase).toBe('waiting');
    expect((m.items[1] as ToolItem).approvalId).toBe('apr_1');
    m.apply(evs[3]!);
    expect(m.pendingApprovals).toBe(0);
    expect(m.phase).toBe('running');
    expect((m.items[2] as ApprovalItem).resolved).toEqual({ decision: 'deny', by: 'user', message: 'no' });
    expect(m.items[2]?.seqs).toEqual([3, 4]);
  });

  it('shows an event type it does not know instead of dropping it', () => {
    const m = new RunModel();
    m.apply(events({ type: 'future.thing', data: { x: 1 } })[0]!);
    expect(m.items[0]).toMatchObject({ kind: 'other', type: 'future.thing', data: { x: 1 } });
  });

  it('gives output of a call whose start it never saw a card of its own', () => {
    const m = new RunModel();
    m.apply(events({ type: 'tool.output', data: { toolUseId: 'tx', stream: 'stdout', chunk: 'hi' } })[0]!);
    expect(m.items[0]).toMatchObject({ kind: 'tool', toolUseId: 'tx', seqs: [1] });
  });
});

describe('ANSI', () => {
  it('turns SGR codes into classes and drops every other escape', () => {
    expect(parseAnsi('\u001b[31mred\u001b[0m plain \u001b[1;32mgreen\u001b[39mbold\u001b[0m')).toEqual([
      { text: 'red', cls: 'a-fg-1' },
      { text: ' plain ', cls: '' },
      { text: 'green', cls: 'a-fg-2 a-b' },
      { text: 'bold', cls: 'a-b' },
    ]);
    expect(parseAnsi('a\u001b[2Kb\u001b]0;title\u0007c\u001b[?25ld')).toEqual([{ text: 'abcd', cls: '' }]);
    expect(parseAnsi('\u001b[38;5;196mx\u001b[48;2;0;0;255my')).toEqual([
      { text: 'x', cls: 'a-fg-9' },
      { text: 'y', cls: 'a-fg-9 a-bg-12' },
    ]);
  });

  it('leaves markup as text (the view renders text nodes)', () => {
    expect(parseAnsi('<img src=x onerror=alert(1)>')).toEqual([
      { text: '<img src=x onerror=alert(1)>', cls: '' },
    ]);
  });
});

describe('diffs from edit inputs', () => {
  it('native fs edit and write', () => {
    const edit = fileEditOf('fs', {
      operation: 'edit',
      path: 'a.js',
      oldString: 'x = 1;\n',
      newString: 'x = 2;\n',
    });
    expect(edit?.path).toBe('a.js');
    expect(edit?.lines.filter((l) => l.kind !== 'hunk')).toEqual([
      { kind: 'del', text: 'x = 1;' },
      { kind: 'add', text: 'x = 2;' },
    ]);
    const write = fileEditOf('mcp__server__fs', { operation: 'write', path: 'b.txt', content: 'one\ntwo\n' });
    expect(write).toMatchObject({
      op: 'write',
      lines: [
        { kind: 'add', text: 'one' },
        { kind: 'add', text: 'two' },
      ],
    });
    expect(fileEditOf('fs', { operation: 'read', path: 'a.js' })).toBeUndefined();
  });

  it('Claude Code Edit, MultiEdit and Write', () => {
    expect(fileEditOf('Edit', { file_path: '/w/a', old_string: 'a', new_string: 'b' })?.lines.length).toBe(3);
    const multi = fileEditOf('MultiEdit', {
      file_path: '/w/a',
      edits: [
        { old_string: 'a', new_string: 'b' },
        { old_string: 'c', new_string: 'd' },
      ],
    });
    expect(multi?.lines.filter((l) => l.kind === 'add').map((l) => l.text)).toEqual(['b', 'd']);
    expect(fileEditOf('Write', { file_path: '/w/n', content: 'x' })?.lines).toEqual([
      { kind: 'add', text: 'x' },
    ]);
    expect(fileEditOf('Bash', { command: 'ls' })).toBeUndefined();
  });

  it('caps a huge write', () => {
    const big = fileEditOf('fs', { operation: 'write', path: 'big', content: 'x\n'.repeat(1000) });
    expect(big?.lines).toHaveLength(400);
    expect(big?.omitted).toBe(600);
  });
});

describe('facts from tool results', () => {
  const tool = (name: string, input: unknown, output: string, isError = false): ToolItem => ({
    kind: 'tool',
    key: 't',
    seqs: [],
    rev: 0,
    ts: '',
    toolUseId: 't',
    name,
    input,
    output: [],
    outputChars: 0,
    result: { isError, output, durationMs: 1 },
  });

  it('reads a commit, a push and a pull request, from the server tools and from shell commands', () => {
    const commit = tool(
      'git',
      { operation: 'commit', message: 'm' },
      '[main f15caa3] Fix add()\n 1 file changed',
    );
    expect(commitOf(commit)).toEqual({ branch: 'main', sha: 'f15caa3', message: 'Fix add()' });
    expect(
      commitOf(tool('Bash', { command: "git commit -am 'x'" }, '[fix/x (root-commit) abcdef1] x')),
    ).toEqual({
      branch: 'fix/x',
      sha: 'abcdef1',
      message: 'x',
    });
    expect(commitOf(tool('git', { operation: 'log' }, '[main f15caa3] Fix add()'))).toBeUndefined();
    expect(commitOf(tool('git', { operation: 'commit' }, '[main f15caa3] x', true))).toBeUndefined();
    const push = tool('git', { operation: 'push' }, 'To /tmp/o.git\n   468c1a4..f15caa3  HEAD -> main\n');
    expect(pushOf(push)).toEqual({ range: '468c1a4..f15caa3', ref: 'main' });
    const pr = tool('gh', { operation: 'pr_create' }, 'Created https://github.com/u/r/pull/12 for you');
    expect(pullRequestOf(pr)).toBe('https://github.com/u/r/pull/12');
  });

  it('links only http(s) URLs', () => {
    expect(safeHttpUrl('javascript:alert(1)')).toBeUndefined();
    expect(safeHttpUrl('data:text/html,x')).toBeUndefined();
    expect(safeHttpUrl('https://github.com/u/r/pull/1')).toBe('https://github.com/u/r/pull/1');
  });

  it('summarises inputs', () => {
    expect(inputSummary('bash', { command: 'node test.js\nmore' })).toBe('node test.js');
    expect(inputSummary('fs', { operation: 'edit', path: 'math.js' })).toBe('edit math.js');
    expect(inputSummary('Read', { file_path: '/w/x' })).toBe('/w/x');
  });
});

describe('stats by shape', () => {
  const stats = {
    windowS: 3600,
    queue: { depth: 3, byPriority: { high: 1, medium: 2, low: 0 } },
    runs: { active: 2, count: 40, durationMs: { p50: 1200, p95: 5000, p99: 9000 }, errorRate: 0.05 },
    toolCalls: { count: 300, p50: 20, p95: 200, p99: 900 },
    alerts: [{ name: 'queue_depth', severity: 'warning', state: 'firing', value: 120, threshold: 100 }],
  };

  it('finds percentile rows, alerts and figures wherever they are', () => {
    expect(percentileRows(stats)).toEqual([
      { label: 'runs › durationMs', count: 40, p50: 1200, p95: 5000, p99: 9000 },
      { label: 'toolCalls', count: 300, p50: 20, p95: 200, p99: 900 },
    ]);
    expect(alertsOf(stats)).toEqual([
      { name: 'queue_depth', severity: 'warning', state: 'firing', value: 120, threshold: 100 },
    ]);
    expect(alertsOf({ alerts: { firing: [{ name: 'a' }] } })).toEqual([
      { name: 'a', value: undefined, threshold: undefined },
    ]);
    const figures = Object.fromEntries(scalarFigures(stats));
    expect(figures).toMatchObject({ 'queue.depth': '3', 'runs.active': '2', 'runs.errorRate': '0.0500' });
    expect(figures).not.toHaveProperty('toolCalls.p50');
  });

  it('copes with anything', () => {
    for (const x of [null, 3, 'x', [], { alerts: 'no' }]) {
      expect(percentileRows(x)).toEqual([]);
      expect(alertsOf(x)).toEqual([]);
    }
  });
});
