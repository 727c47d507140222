// Where each engine asks the approval gate (docs/api.md §10), tested at the engine's own seams with
// a gate the test controls: a denied call never reaches its tool, only calls that would run are
// asked, parallel calls wait independently; for claude-code, the PreToolUse hook asks (after the
// tool policy) and is configured so a hook that fails or times out blocks the call.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { HookCallbackMatcher, HookInput } from '@anthropic-ai/claude-agent-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildQueryOptions } from '../../src/agent/claude-code/query-options.ts';
import type {
  ApprovalGate,
  ApprovalVerdict,
  EngineEvent,
  EngineRunContext,
  GatedToolCall,
} from '../../src/agent/engine.ts';
import { executeToolCalls } from '../../src/agent/native/tools.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { Tool } from '../../src/tools/types.ts';

/** A gate that answers from `decide`, recording what it was asked. */
function testGate(decide: (c: GatedToolCall) => ApprovalVerdict | Promise<ApprovalVerdict>) {
  const asked: GatedToolCall[] = [];
  const gate: ApprovalGate = {
    timeoutMs: 120_000,
    async check(call) {
      asked.push(call);
      return decide(call);
    },
  };
  return { gate, asked };
}

let ws: string;
beforeAll(async () => {
  ws = await mkdtemp(path.join(os.tmpdir(), 'approval-wiring-'));
});
afterAll(() => rm(ws, { recursive: true, force: true }));

function ctx(gate: ApprovalGate | undefined, events: EngineEvent[] = []): EngineRunContext {
  return {
    runId: 'run1',
    sessionId: 'ses1',
    model: 'm',
    history: [],
    input: 'go',
    workspace: ws,
    tools: [],
    engineState: {},
    env: {},
    signal: new AbortController().signal,
    emit: (e) => events.push(e),
    ...(gate ? { approvals: gate } : {}),
  };
}

describe('native engine: the tool dispatcher asks before a tool runs', () => {
  const ran: string[] = [];
  const git: Tool<{ operation: string }> = {
    name: 'git',
    description: 'git',
    input: z.object({ operation: z.enum(['push', 'status']) }),
    async execute(input) {
      ran.push(input.operation);
      return { output: `did ${input.operation}`, isError: false };
    },
  };

  it('a denied call never runs; its result is the denial; an allowed one runs', async () => {
    ran.length = 0;
    const { gate, asked } = testGate((c) =>
      (c.input as { operation: string }).operation === 'push'
        ? { allow: false, message: 'denied by the user: nope' }
        : { allow: true },
    );
    const events: EngineEvent[] = [];
    const out = await executeToolCalls(
      [
        { id: 'a', name: 'git', input: { operation: 'push' } },
        { id: 'b', name: 'git', input: { operation: 'status' } },
      ],
      [git as Tool],
      ctx(gate, events),
      10_000,
    );
    expect(ran).toEqual(['status']);
    expect(asked.map((c) => [c.toolUseId, c.name, c.input])).toEqual([
      ['a', 'git', { operation: 'push' }],
      ['b', 'git', { operation: 'status' }],
    ]);
    expect(out.results).toEqual([
      { type: 'tool_result', tool_use_id: 'a', content: 'denied by the user: nope', is_error: true },
      { type: 'tool_result', tool_use_id: 'b', content: 'did status' },
    ]);
    const completed = events.flatMap((e) =>
      e.type === 'tool.completed' ? [[e.data.toolUseId, e.data.isError, e.data.output]] : [],
    );
    expect(completed.sort()).toEqual([
      ['a', true, 'denied by the user: nope'],
      ['b', false, 'did status'],
    ]);
  });

  it('calls that would not run are not asked about (unknown tool, invalid input)', async () => {
    ran.length = 0;
    const { gate, asked } = testGate(() => ({ allow: true }));
    const out = await executeToolCalls(
      [
        { id: 'a', name: 'nope', input: {} },
        { id: 'b', name: 'git', input: { operation: 'rebase' } },
        { id: 'c', name: 'git', input: {}, inputError: 'bad json' },
      ],
      [git as Tool],
      ctx(gate),
      10_000,
    );
    expect(asked).toEqual([]);
    expect(ran).toEqual([]);
    expect(out.results.every((r) => r.is_error)).toBe(true);
  });

  it('parallel calls wait independently: one decided late does not hold the other', async () => {
    ran.length = 0;
    let releaseA!: (v: ApprovalVerdict) => void;
    const { gate } = testGate((c) =>
      c.toolUseId === 'a' ? new Promise<ApprovalVerdict>((r) => (releaseA = r)) : { allow: true },
    );
    const done = executeToolCalls(
      [
        { id: 'a', name: 'git', input: { operation: 'push' } },
        { id: 'b', name: 'git', input: { operation: 'status' } },
      ],
      [git as Tool],
      ctx(gate),
      10_000,
    );
    await new Promise((r) => setTimeout(r, 20));
    expect(ran).toEqual(['status']);
    releaseA({ allow: true });
    await done;
    expect(ran).toEqual(['status', 'push']);
  });
});

describe('claude-code engine: the PreToolUse hook is the gate', () => {
  const config = loadConfig({ DATA_DIR: '/tmp/unused', SANDBOX: 'none', LOG_LEVEL: 'error' });

  function hooksOf(gate: ApprovalGate | undefined) {
    const options = buildQueryOptions({
      opts: { config, logger: silentLogger, serverTools: () => [] },
      settings: { allowTools: [], denyTools: ['WebFetch'] },
      ctx: ctx(gate),
      workspace: ws,
      model: 'm',
      log: silentLogger,
      resume: undefined,
      claudeSessionId: '00000000-0000-4000-8000-000000000000',
      cliEnv: {},
      controller: new AbortController(),
      toolMeta: [],
    });
    const matcher = options.hooks!.PreToolUse![0]! as HookCallbackMatcher;
    const hook = matcher.hooks[0]!;
    const pre = (tool_name: string, tool_input: unknown, id = 'toolu_1') =>
      hook(
        {
          hook_event_name: 'PreToolUse',
          tool_name,
          tool_input,
          tool_use_id: id,
          session_id: 's',
          transcript_path: '/dev/null',
          cwd: ws,
        } as HookInput,
        id,
        { signal: new AbortController().signal },
      );
    return { matcher, pre };
  }

  it('a call the gate denies is denied with its message; an allowed one passes; the gate sees Claude Code names', async () => {
    const { gate, asked } = testGate((c) =>
      c.name === 'Bash' ? { allow: false, message: 'denied by the user: not now' } : { allow: true },
    );
    const { pre, matcher } = hooksOf(gate);
    expect(await pre('Bash', { command: 'git push' }, 'toolu_push')).toEqual({
      hookSpecificOutput: {
        hookEventName: 'PreToolUse',
        permissionDecision: 'deny',
        permissionDecisionReason: 'denied by the user: not now',
      },
    });
    expect(await pre('Read', { file_path: path.join(ws, 'x') })).toEqual({});
    expect(asked.map((c) => [c.toolUseId, c.name])).toEqual([
      ['toolu_push', 'Bash'],
      ['toolu_1', 'Read'],
    ]);
    // waits up to the approval timeout (Claude Code's default hook timeout is far shorter), and a
    // hook that fails or times out blocks the call instead of letting it through
    expect(matcher.timeout).toBeGreaterThanOrEqual(120);
    expect(matcher.onFailure).toBe('block');
  });

  it('a call the tool policy refuses is refused without asking anyone', async () => {
    const { gate, asked } = testGate(() => ({ allow: true }));
    const { pre } = hooksOf(gate);
    const denied = (await pre('WebFetch', { url: 'https://x' })) as {
      hookSpecificOutput?: { permissionDecision?: string };
    };
    expect(denied.hookSpecificOutput?.permissionDecision).toBe('deny');
    const outside = (await pre('Read', { file_path: '/etc/passwd' })) as {
      hookSpecificOutput?: { permissionDecision?: string };
    };
    expect(outside.hookSpecificOutput?.permissionDecision).toBe('deny');
    expect(asked).toEqual([]);
  });

  it('without approvals the hook is registered the same way (a warm spare is started before its run is known)', () => {
    const withGate = hooksOf(testGate(() => ({ allow: true })).gate).matcher;
    const { matcher } = hooksOf(undefined);
    expect(matcher.timeout).toBe(withGate.timeout);
    expect(matcher.onFailure).toBe('block');
  });

  it('a gate that throws refuses the call (fail closed), it never lets it through', async () => {
    const { gate } = testGate(() => {
      throw new Error('store unreachable');
    });
    const { pre } = hooksOf(gate);
    const out = (await pre('Bash', { command: 'git push' })) as {
      hookSpecificOutput?: { permissionDecision?: string; permissionDecisionReason?: string };
    };
    expect(out.hookSpecificOutput?.permissionDecision).toBe('deny');
    expect(out.hookSpecificOutput?.permissionDecisionReason).toMatch(/could not check this tool call/);
  });
});
