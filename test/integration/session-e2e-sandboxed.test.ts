// The core end-to-end flow with the real bubblewrap sandbox on (the default in production): clone,
// read, edit, `node test.js`, commit and push to a local bare repository all work from inside it.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bugfixScenario,
  bugfixScenarioClaudeCode,
  claudeCodeSideReply,
  createBugfixRepo,
  isClaudeCodeSideRequest,
  type MockLlm,
  textReply,
  toolCall,
  toolUseCount,
} from '../../src/mock-llm/index.ts';
import { allEvents, isRunEnd, waitForRunEnd } from '../helpers/events.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { api, json, type TestServer, tempDir, waitFor } from '../helpers/server.ts';

describe('session end to end inside the bubblewrap sandbox (native engine)', () => {
  let mock: MockLlm;
  let server: TestServer;
  let bareRepo: string;
  beforeAll(async () => {
    ({ bareRepo } = await createBugfixRepo(await tempDir('fixture-sbx-')));
    ({ mock, server } = await startMockedServer(
      { responder: bugfixScenario('native') },
      { ANTHROPIC_API_KEY: 'k', SANDBOX: 'bwrap' },
    ));
  });
  afterAll(() => closeMockedServer(server, mock));

  it('fixes, tests, commits and pushes with every process sandboxed', async () => {
    const health = await json<{ checks: { sandbox: { kind: string } } }>(
      await api(server.url, 'GET', '/health'),
    );
    expect(health.checks.sandbox.kind).toBe('bwrap');
    const s = await json<{ id: string }>(
      await api(server.url, 'POST', '/api/sessions', { repoUrl: bareRepo }),
    );
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'fix it' });
    const evs = await waitForRunEnd(server.url, s.id, 60_000);
    const failed = evs.find((e) => e.type === 'run.failed');
    expect(failed, JSON.stringify(failed?.data)).toBeUndefined();
    const results = evs.filter((e) => e.type === 'tool.completed');
    expect(
      results.map((e) => [e.data.name, e.data.isError]),
      JSON.stringify(results.map((e) => e.data.output)),
    ).toEqual([
      ['fs', false],
      ['fs', false],
      ['bash', false],
      ['git', false],
      ['git', false],
    ]);
    expect(String(results[2]!.data.output)).toContain('all tests passed');
    expect(
      execFileSync('git', ['--git-dir', bareRepo, 'log', '-1', '--format=%s', 'main'], {
        encoding: 'utf8',
      }).trim(),
    ).toBe('Fix add() to return the sum');
  });
});

describe('claude-code engine inside the bubblewrap sandbox', () => {
  let mock: MockLlm;
  let server: TestServer;
  let bareRepo: string;
  const REAL_KEY = 'sk-ant-sandboxed-real-key-42';
  beforeAll(async () => {
    ({ bareRepo } = await createBugfixRepo(await tempDir('fixture-sbx-cc-')));
    ({ mock, server } = await startMockedServer(
      { responder: bugfixScenarioClaudeCode({ push: 'server-git' }), requireApiKey: REAL_KEY },
      { ANTHROPIC_API_KEY: REAL_KEY, SANDBOX: 'bwrap', AGENT_ENGINE: 'claude-code' },
    ));
  });
  afterAll(() => closeMockedServer(server, mock));

  const runToEnd = async (id: string, content: string) => {
    await api(server.url, 'POST', `/api/sessions/${id}/messages`, { content });
    return waitFor(async () => {
      const evs = await allEvents(server.url, id);
      const ends = evs.filter(isRunEnd);
      return ends.length > 0 && evs.at(-1)!.type.startsWith('run.') ? evs : undefined;
    }, 90_000);
  };

  it('the whole Claude Code process runs sandboxed: the bugfix still works end to end', async () => {
    const s = await json<{ id: string }>(
      await api(server.url, 'POST', '/api/sessions', { repoUrl: bareRepo }),
    );
    const evs = await runToEnd(s.id, 'fix it');
    const failed = evs.find((e) => e.type === 'run.failed');
    expect(failed, JSON.stringify(failed?.data)).toBeUndefined();
    const results = evs.filter((e) => e.type === 'tool.completed');
    expect(results.map((e) => e.data.name)).toEqual(['Read', 'Edit', 'Bash', 'Bash', 'mcp__server__git']);
    expect(
      results.map((e) => e.data.isError),
      JSON.stringify(results.map((e) => e.data.output)),
    ).toEqual([false, false, false, false, false]);
    expect(
      execFileSync('git', ['--git-dir', bareRepo, 'log', '-1', '--format=%s', 'main'], {
        encoding: 'utf8',
      }).trim(),
    ).toBe('Fix add() to return the sum');
  });

  it("Claude Code's commands see no secret, no data dir and no host loopback", async () => {
    mock.setResponder((req) => {
      if (isClaudeCodeSideRequest(req)) return claudeCodeSideReply(req);
      const probe =
        'env; echo ---; ls /root 2>&1; ls ' +
        server.dataDir +
        ' 2>&1; cat /etc/shadow 2>&1; ' +
        `node -e "fetch('${server.url}/health').then(r=>console.log('REACHED',r.status),e=>console.log('BLOCKED',e.cause?.code??e.message))"; ` +
        // no allowlist: the commands Claude Code runs get no egress at all (like the native bash)
        // (asked of the egress proxy directly, so the refusal reason is visible; nothing is resolved)
        `node -e "const u=new URL(process.env.HTTPS_PROXY);const s=require('net').connect(u.port,u.hostname,()=>s.write('CONNECT example.com:443 HTTP/1.1\\r\\nHost: example.com:443\\r\\n\\r\\n'));s.on('data',d=>{console.log('EGRESS',String(d).replace(/\\s+/g,' '));s.end()})"`;
      return toolUseCount(req) === 0
        ? toolCall('Bash', { command: probe, description: 'probe' })
        : textReply('probed');
    });
    const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    const evs = await runToEnd(s.id, 'probe');
    expect(evs.at(-1)!.type).toBe('run.completed');
    const out = String(evs.find((e) => e.type === 'tool.completed')!.data.output);
    expect(out).toContain('BLOCKED');
    expect(out).toMatch(/EGRESS HTTP\/1\.[01] 403/);
    expect(out).toContain('example.com:443 is not in SANDBOX_NETWORK_ALLOW');
    expect(out).not.toContain('REACHED');
    expect(out).not.toContain(REAL_KEY);
    expect(out).not.toContain('agent.db');
    expect(out).not.toMatch(/root:[^:]*:\d+:/);
  });

  it('links and FIFOs the agent plants in its Claude Code state are never followed or opened by the server', async () => {
    const { execFileSync: sh } = await import('node:child_process');
    const { lstatSync, readdirSync, renameSync, symlinkSync } = await import('node:fs');
    const path = await import('node:path');
    // A host directory the sandbox cannot see: where the old engine's mkdir/write would have landed.
    const hostDir = await tempDir('planted-target-');
    mock.setResponder((req) => (isClaudeCodeSideRequest(req) ? claudeCodeSideReply(req) : textReply('one')));
    const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    expect((await runToEnd(s.id, 'first')).at(-1)!.type).toBe('run.completed');

    // What the agent's commands could leave behind in the session home (its own uid's files): the
    // old engine kept its record in CLAUDE_CONFIG_DIR and mkdir'd it with the server's authority.
    const home = path.join(server.dataDir, 'homes', s.id);
    const uid = lstatSync(home).uid;
    renameSync(path.join(home, 'claude'), path.join(home, 'claude.old'));
    sh('mkfifo', [path.join(home, 'claude.old', s.id, 'duyetbot-state.json')]);
    symlinkSync(hostDir, path.join(home, 'claude'));
    sh('chown', ['-h', `${uid}`, path.join(home, 'claude')]);

    mock.setResponder((req) =>
      isClaudeCodeSideRequest(req) ? claudeCodeSideReply(req) : textReply('second'),
    );
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'again' });
    const second = await waitFor(async () => {
      const evs = await allEvents(server.url, s.id);
      return evs.filter(isRunEnd).length >= 2 && isRunEnd(evs.at(-1)!) ? evs : undefined;
    }, 90_000);
    // The run ends (it does not hang on the FIFO): inside the sandbox the link dangles, so the CLI
    // cannot make its config dir there and says so — the agent broke its own home, nothing more.
    const end = second.at(-1)!;
    if (end.type === 'run.failed') expect(JSON.stringify(end.data)).toMatch(/mkdir: cannot create directory/);
    else expect(end.type).toBe('run.completed');
    expect(readdirSync(hostDir)).toEqual([]);
    // DELETE removes the session promptly, planted link and FIFO included, without following them.
    const t0 = Date.now();
    expect((await api(server.url, 'DELETE', `/api/sessions/${s.id}`)).status).toBe(204);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(readdirSync(hostDir)).toEqual([]);
  });
});
