import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bugfixScenario,
  bugfixScenarioClaudeCode,
  bugfixScenarioNative,
  createBugfixRepo,
  isClaudeCodeSideRequest,
  type MessagesRequest,
  type MockReply,
  type MockTurn,
  startMockLlm,
  workingDirectoryOf,
} from '../../src/mock-llm/index.ts';

const run = promisify(execFile);
const gitEnv = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };

async function git(args: string[], cwd?: string): Promise<string> {
  return (await run('git', args, { env: gitEnv, ...(cwd ? { cwd } : {}) })).stdout.trim();
}

async function nodeTest(cwd: string): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, ['test.js'], { cwd });
    return { code: 0, out: r.stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

function asReply(t: MockTurn): MockReply {
  if (t.kind !== 'reply') throw new Error(`expected a reply, got ${JSON.stringify(t)}`);
  return t;
}

const TOOLS = [{ name: 'Bash' }, { name: 'Read' }, { name: 'Edit' }];

/** Plays a responder against a simulated conversation: each tool call is answered with a dummy result. */
async function play(
  responder: (
    r: MessagesRequest,
    i: { index: number; headers: Record<string, string> },
  ) => MockTurn | Promise<MockTurn>,
  first: MessagesRequest,
): Promise<MockReply[]> {
  const out: MockReply[] = [];
  const req: MessagesRequest = structuredClone(first);
  for (let i = 0; i < 10; i++) {
    const reply = asReply(await responder(req, { index: i, headers: {} }));
    out.push(reply);
    const tools = reply.blocks.filter((b) => b.type === 'tool_use');
    if (tools.length === 0) break;
    req.messages.push({
      role: 'assistant',
      content: reply.blocks.map((b) =>
        b.type === 'tool_use' ? { type: 'tool_use', id: `t${i}`, name: b.name, input: b.input } : { ...b },
      ),
    });
    req.messages.push({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: `t${i}`, content: 'ok' }],
    });
  }
  return out;
}

let root: string;
let bareRepo: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'mock-llm-scenario-'));
  ({ bareRepo } = await createBugfixRepo(root));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('createBugfixRepo', () => {
  it('creates a bare repo on main with the buggy code, a failing test and package.json', async () => {
    expect(bareRepo).toBe(join(root, 'origin.git'));
    expect(await git(['--git-dir', bareRepo, 'symbolic-ref', 'HEAD'])).toBe('refs/heads/main');
    expect(await git(['--git-dir', bareRepo, 'log', '--format=%an <%ae>', 'main'])).toBe(
      'fixture <fixture@example.com>',
    );
    const clone = join(root, 'clone-check');
    await git(['clone', bareRepo, clone]);
    expect(await git(['rev-parse', '--abbrev-ref', 'HEAD'], clone)).toBe('main');
    expect(await readFile(join(clone, 'math.js'), 'utf8')).toContain('return a - b;');
    expect(JSON.parse(await readFile(join(clone, 'package.json'), 'utf8'))).toEqual({
      name: 'demo',
      version: '1.0.0',
      private: true,
    });
    const before = await nodeTest(clone);
    expect(before.code).not.toBe(0);
    expect(before.out).not.toContain('all tests passed');
  });
});

describe('bugfixScenarioNative', () => {
  it('reads, edits, tests, commits, pushes, reports — with docs/api.md §9 inputs', async () => {
    const replies = await play(bugfixScenarioNative(), {
      model: 'm',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Fix the bug' }],
    });
    expect(replies).toHaveLength(6);
    expect(replies[0]?.blocks).toEqual([
      { type: 'text', text: 'Let me look at the code.' },
      { type: 'tool_use', name: 'fs', input: { operation: 'read', path: 'math.js' } },
    ]);
    const inputs = replies.slice(1, 5).map((r) => {
      const b = r.blocks[0];
      return b?.type === 'tool_use' ? [b.name, b.input] : null;
    });
    expect(inputs).toEqual([
      ['fs', { operation: 'edit', path: 'math.js', oldString: 'return a - b;', newString: 'return a + b;' }],
      ['bash', { command: 'node test.js' }],
      ['git', { operation: 'commit', message: 'Fix add() to return the sum', all: true }],
      ['git', { operation: 'push' }],
    ]);
    expect(replies[5]?.blocks).toEqual([
      { type: 'text', text: 'Fixed the bug in add(), tests pass, and the fix is pushed.' },
    ]);
    expect(replies[5]?.stopReason).toBe('end_turn');
    expect(bugfixScenario('native')).toBeTypeOf('function');
  });

  it("the scripted edit really fixes the fixture's test", async () => {
    const clone = join(root, 'clone-native');
    await git(['clone', bareRepo, clone]);
    const file = join(clone, 'math.js');
    await writeFile(file, (await readFile(file, 'utf8')).replace('return a - b;', 'return a + b;'));
    const after = await nodeTest(clone);
    expect(after).toEqual({ code: 0, out: 'all tests passed\n' });
  });
});

describe('bugfixScenarioClaudeCode', () => {
  const reminder = (dir: string): string =>
    `<system-reminder>\n# Environment\nYou have been invoked in the following environment: \n - Primary working directory: ${dir}\n - Is a git repository: true\n</system-reminder>`;

  it('finds the working directory in a system-reminder, the system prompt or a system message', () => {
    const base = { model: 'm', max_tokens: 100 };
    expect(
      workingDirectoryOf({
        ...base,
        messages: [{ role: 'user', content: [{ type: 'text', text: reminder('/w/a b') }] }],
      }),
    ).toBe('/w/a b');
    expect(
      workingDirectoryOf({
        ...base,
        system: [
          { type: 'text', text: 'Here is useful information:\n<env>\nWorking directory: /w/old\n</env>' },
        ],
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).toBe('/w/old');
    const withSystemRole = {
      ...base,
      messages: [
        { role: 'user', content: 'x' },
        { role: 'system', content: reminder('/w/sys') },
      ],
    } as unknown as MessagesRequest;
    expect(workingDirectoryOf(withSystemRole)).toBe('/w/sys');
    expect(workingDirectoryOf({ ...base, messages: [{ role: 'user', content: 'x' }] })).toBeUndefined();
  });

  it('uses Claude Code tools with absolute paths; side requests get a short reply', async () => {
    const r = bugfixScenarioClaudeCode();
    const first: MessagesRequest = {
      model: 'm',
      max_tokens: 32000,
      tools: TOOLS,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: reminder('/ws/x') },
            { type: 'text', text: 'Fix it' },
          ],
        },
      ],
    };
    const replies = await play(r, first);
    const calls = replies.flatMap((rep) => rep.blocks.filter((b) => b.type === 'tool_use'));
    expect(calls.map((b) => (b.type === 'tool_use' ? [b.name, b.input] : null))).toEqual([
      ['Read', { file_path: '/ws/x/math.js' }],
      ['Edit', { file_path: '/ws/x/math.js', old_string: 'return a - b;', new_string: 'return a + b;' }],
      ['Bash', { command: 'node test.js', description: 'Run the tests' }],
      ['Bash', { command: "git commit -am 'Fix add() to return the sum'", description: 'Commit the fix' }],
      ['Bash', { command: 'git push', description: 'Push the fix' }],
    ]);
    expect(replies.at(-1)?.blocks[0]).toMatchObject({
      type: 'text',
      text: expect.stringContaining('pushed'),
    });

    const title: MessagesRequest = {
      model: 'm',
      max_tokens: 32000,
      messages: [{ role: 'user', content: '<session>Fix it</session>' }],
      output_config: {
        format: {
          type: 'json_schema',
          schema: { type: 'object', properties: { title: { type: 'string' } }, required: ['title'] },
        },
      },
    };
    expect(isClaudeCodeSideRequest(title)).toBe(true);
    const side = asReply(await r(title, { index: 0, headers: {} }));
    const text = side.blocks[0]?.type === 'text' ? side.blocks[0].text : '';
    expect(JSON.parse(text)).toEqual({ title: 'Mock session' });
    expect(isClaudeCodeSideRequest({ ...first, max_tokens: 1 })).toBe(true);
    expect(isClaudeCodeSideRequest(first)).toBe(false);
  });
});

// End to end: the real Claude Code CLI (through the Agent SDK) against the mock, fixing the fixture repo.
const require = createRequire(import.meta.url);
function claudeBinaryPresent(): boolean {
  try {
    const pkg = require.resolve('@anthropic-ai/claude-agent-sdk-linux-x64/package.json');
    return existsSync(join(dirname(pkg), 'claude'));
  } catch {
    return false;
  }
}

describe('Claude Code against the mock', () => {
  it.skipIf(!claudeBinaryPresent() || process.env.SKIP_CLAUDE_CODE_E2E === '1')(
    'runs the bugfix scenario to a pushed commit',
    async () => {
      const { query } = await import('@anthropic-ai/claude-agent-sdk');
      const ws = join(root, 'ws-claude');
      await git(['clone', bareRepo, ws]);
      const configDir = await mkdtemp(join(tmpdir(), 'mock-llm-claude-config-'));
      const mock = await startMockLlm({ responder: bugfixScenario('claude-code') });
      try {
        const env: Record<string, string> = {};
        for (const [k, v] of Object.entries(gitEnv)) if (v !== undefined) env[k] = v;
        Object.assign(env, {
          ANTHROPIC_BASE_URL: mock.url,
          ANTHROPIC_API_KEY: 'test',
          CLAUDE_CONFIG_DIR: configDir,
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          GIT_AUTHOR_NAME: 'duyetbot',
          GIT_AUTHOR_EMAIL: 'duyetbot@users.noreply.github.com',
          GIT_COMMITTER_NAME: 'duyetbot',
          GIT_COMMITTER_EMAIL: 'duyetbot@users.noreply.github.com',
        });
        let result: { subtype: string; result?: string } | undefined;
        for await (const m of query({
          prompt: 'Fix the failing test, commit and push.',
          options: {
            cwd: ws,
            env,
            model: 'claude-sonnet-4-5',
            settingSources: [],
            permissionMode: 'default',
            canUseTool: async (_name, input) => ({ behavior: 'allow', updatedInput: input }),
            maxTurns: 12,
          },
        })) {
          if (m.type === 'result') result = m as { subtype: string; result?: string };
        }
        expect(result?.subtype).toBe('success');
        expect(result?.result).toContain('pushed');
        expect(await git(['--git-dir', bareRepo, 'log', '-1', '--format=%an %s', 'main'])).toBe(
          'duyetbot Fix add() to return the sum',
        );
        const paths = mock.requests.map((r) => r.path);
        expect(paths.every((p) => p === '/v1/messages')).toBe(true);
      } finally {
        await mock.close();
        await rm(configDir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
