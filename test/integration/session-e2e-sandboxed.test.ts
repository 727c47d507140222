// The core end-to-end flow with the real bubblewrap sandbox on (the default in production): clone,
// read, edit, `node test.js`, commit and push to a local bare repository all work from inside it.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bugfixScenario, createBugfixRepo, type MockLlm, startMockLlm } from '../../src/mock-llm/index.ts';
import { api, json, startTestServer, type TestServer, tempDir, waitFor } from '../helpers/server.ts';

type Ev = { seq: number; type: string; data: Record<string, unknown> };

describe('session end to end inside the bubblewrap sandbox (native engine)', () => {
  let mock: MockLlm;
  let server: TestServer;
  let bareRepo: string;
  beforeAll(async () => {
    mock = await startMockLlm({ responder: bugfixScenario('native') });
    ({ bareRepo } = await createBugfixRepo(await tempDir('fixture-sbx-')));
    server = await startTestServer({ ANTHROPIC_BASE_URL: mock.url, ANTHROPIC_API_KEY: 'k', SANDBOX: 'bwrap' });
  });
  afterAll(async () => {
    await server?.close();
    await mock?.close();
  });

  it('fixes, tests, commits and pushes with every process sandboxed', async () => {
    const health = await json<{ checks: { sandbox: { kind: string } } }>(await api(server.url, 'GET', '/health'));
    expect(health.checks.sandbox.kind).toBe('bwrap');
    const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', { repoUrl: bareRepo }));
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'fix it' });
    const evs = await waitFor(async () => {
      const p = await json<{ items: Ev[] }>(await api(server.url, 'GET', `/api/sessions/${s.id}/events?limit=1000`));
      return p.items.some((e) => e.type === 'run.completed' || e.type === 'run.failed') ? p.items : undefined;
    }, 60_000);
    const failed = evs.find((e) => e.type === 'run.failed');
    expect(failed, JSON.stringify(failed?.data)).toBeUndefined();
    const results = evs.filter((e) => e.type === 'tool.completed');
    expect(results.map((e) => [e.data.name, e.data.isError]), JSON.stringify(results.map((e) => e.data.output))).toEqual([
      ['fs', false],
      ['fs', false],
      ['bash', false],
      ['git', false],
      ['git', false],
    ]);
    expect(String(results[2]!.data.output)).toContain('all tests passed');
    expect(execFileSync('git', ['--git-dir', bareRepo, 'log', '-1', '--format=%s', 'main'], { encoding: 'utf8' }).trim()).toBe(
      'Fix add() to return the sum',
    );
  });
});
