// A server killed (SIGKILL) while a tool call waits for approval (docs/api.md §10), on both
// engines: after the restart the approval is denied `by: "restart"` before its run is re-queued,
// nothing is left pending, and the run goes on to its end. The server is a child process on a
// real SQLite file, the model the mock LLM playing the bugfix scenario under `approve: ["git.push"]`.
import { readdirSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bugfixScenario, createBugfixRepo, type MockLlm, startMockLlm } from '../../src/mock-llm/index.ts';
import { type ChildServer, startChildServer } from '../helpers/child-server.ts';
import { validEvents } from '../helpers/event-schema.ts';
import type { TestEvent } from '../helpers/events.ts';
import { api, json, tempDir, waitFor } from '../helpers/server.ts';

type Engine = 'native' | 'claude-code';

/** SIGKILLs the processes whose working directory is under `dir` (this test's server's, only). */
function killProcessesUnder(dir: string): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cwd: string;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      continue;
    }
    if (cwd === dir || cwd.startsWith(`${dir}/`)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

describe.each(['native', 'claude-code'] as Engine[])('approvals across a crash (%s engine)', (engine) => {
  let mock: MockLlm;
  let child: ChildServer | undefined;

  beforeAll(async () => {
    mock = await startMockLlm({ responder: bugfixScenario(engine) });
  });
  afterAll(async () => {
    await child?.close();
    await mock?.close();
  });

  const events = async (base: string, id: string): Promise<TestEvent[]> => {
    const { items } = await json<{ items: TestEvent[] }>(
      await api(base, 'GET', `/api/sessions/${id}/events?after=0&limit=1000`),
    );
    return validEvents(items, `events of ${id}`) as unknown as TestEvent[];
  };

  it('the server is killed while a push waits: the approval ends by restart, before the run is re-queued', async () => {
    const { bareRepo } = await createBugfixRepo(await tempDir('appr-crash-'));
    child = await startChildServer({ env: { ANTHROPIC_BASE_URL: mock.url, AGENT_ENGINE: engine } });
    const base = child.url;
    const s = await json<{ id: string }>(
      await api(base, 'POST', '/api/sessions', {
        repoUrl: bareRepo,
        engine,
        policy: { approve: ['git.push'] },
      }),
    );
    await api(base, 'POST', `/api/sessions/${s.id}/messages`, { content: 'Fix the bug, commit and push.' });
    const first = await waitFor(async () => {
      const page = await json<{ items: Array<{ approvalId: string; runId: string; sessionId: string }> }>(
        await api(base, 'GET', '/api/approvals?status=pending'),
      );
      return page.items.find((a) => a.sessionId === s.id);
    }, 90_000);
    expect((await json<{ status: string }>(await api(base, 'GET', `/api/sessions/${s.id}`))).status).toBe(
      'waiting',
    );

    await child.kill('SIGKILL');
    // What the sandbox's --die-with-parent does in production: the dead server's processes (the
    // Claude Code CLI, waiting on the approval hook) go with it. Without a sandbox they would linger.
    killProcessesUnder(child.dataDir);
    await child.restart();

    const after = await waitFor(async () => {
      const evs = await events(base, s.id);
      return evs.some((e) => e.type === 'run.queued' && e.data.reason === 'worker_lost') ? evs : undefined;
    }, 60_000);
    const resolved = after.find(
      (e) => e.type === 'approval.resolved' && e.data.approvalId === first.approvalId,
    );
    expect(resolved?.data, child.output()).toEqual({
      approvalId: first.approvalId,
      decision: 'deny',
      by: 'restart',
    });
    const requeued = after.find((e) => e.type === 'run.queued' && e.data.reason === 'worker_lost')!;
    expect(requeued.runId).toBe(first.runId);
    expect(resolved!.seq).toBeLessThan(requeued.seq);
    const record = await json<{ items: Array<Record<string, unknown>> }>(
      await api(base, 'GET', '/api/approvals?status=decided'),
    );
    expect(record.items.find((a) => a.approvalId === first.approvalId)).toMatchObject({
      status: 'decided',
      decision: 'deny',
      by: 'restart',
    });

    // The run starts again. Whenever its push asks again, it is allowed; the run reaches its end.
    const end = await waitFor(async () => {
      const evs = await events(base, s.id);
      for (const e of evs.filter(
        (x) => x.type === 'approval.requested' && x.data.approvalId !== first.approvalId,
      )) {
        if (!evs.some((x) => x.type === 'approval.resolved' && x.data.approvalId === e.data.approvalId))
          await api(base, 'POST', `/api/sessions/${s.id}/approvals/${String(e.data.approvalId)}`, {
            decision: 'allow',
          });
      }
      return evs.find((e) => e.type === 'run.completed' || e.type === 'run.failed');
    }, 90_000);
    expect(end.type, `${JSON.stringify(end.data)}\n${child.output()}`).toBe('run.completed');
    const pending = await json<{ items: unknown[] }>(await api(base, 'GET', '/api/approvals?status=pending'));
    expect(pending.items).toEqual([]);
    expect((await json<{ status: string }>(await api(base, 'GET', `/api/sessions/${s.id}`))).status).toBe(
      'idle',
    );
  });
});
