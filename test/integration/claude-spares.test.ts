// Warm Claude Code spares, end to end inside the bubblewrap sandbox: a new session's first run is
// served by a spare (a ready one without a repository, a parked one claimed after the clone), and
// what Claude Code sends the model is what a cold start of the same run sends — the same system
// prompt, tools, settings and context, byte for byte once the run's own ids and paths are set aside.
// Runs that a spare does not fit start cold, and a spare that dies while parked is replaced.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  claudeCodeSideReply,
  createBugfixRepo,
  isClaudeCodeSideRequest,
  type MockLlm,
  type RecordedRequest,
  textReply,
} from '../../src/mock-llm/index.ts';
import { processTrees } from '../../src/observability/proc-tree.ts';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { waitForRunEnd } from '../helpers/events.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { api, json, type TestServer, tempDir, waitFor } from '../helpers/server.ts';

const KEY = 'sk-ant-spares-real-key';
const responder = (req: Parameters<typeof isClaudeCodeSideRequest>[0]) =>
  isClaudeCodeSideRequest(req) ? claudeCodeSideReply(req) : textReply('done');

interface Served {
  mock: MockLlm;
  server: TestServer;
}

async function start(env: Record<string, string>): Promise<Served> {
  return startMockedServer(
    { responder, requireApiKey: KEY },
    { ANTHROPIC_API_KEY: KEY, SANDBOX: 'bwrap', AGENT_ENGINE: 'claude-code', ...env },
  );
}

async function metric(server: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** Waits until the pool has `ready` ready and `parked` parked spares. */
async function sparesUp(server: TestServer, ready: number, parked: number): Promise<void> {
  await waitFor(async () => {
    const r = await metric(server, 'agent_claude_spares{state="ready"}');
    const p = await metric(server, 'agent_claude_spares{state="parked"}');
    return r === ready && p === parked ? true : undefined;
  }, 90_000);
}

/** Runs one message in a new session; returns the first main-loop request the model got. */
async function firstRequest(
  s: Served,
  session: Record<string, unknown>,
): Promise<{ sessionId: string; request: RecordedRequest }> {
  const created = await json<{ id: string }>(await api(s.server.url, 'POST', '/api/sessions', session));
  const before = s.mock.requests.length;
  await api(s.server.url, 'POST', `/api/sessions/${created.id}/messages`, { content: 'say done' });
  const evs = await waitForRunEnd(s.server.url, created.id, 90_000);
  expect(evs.at(-1)?.type, JSON.stringify(evs.at(-1)?.data)).toBe('run.completed');
  const request = s.mock.requests
    .slice(before)
    .find((r) => r.path === '/v1/messages' && !isClaudeCodeSideRequest(r.body as never));
  expect(request).toBeDefined();
  return { sessionId: created.id, request: request! };
}

/** The request with what differs between two runs by construction replaced by placeholders. */
function normalized(r: RecordedRequest, server: TestServer): string {
  return JSON.stringify(r.body)
    .split(server.dataDir)
    .join('<DATA>')
    .replace(/(workspaces|homes)\/(spare-[0-9a-f]{24}|ses_[0-9a-z]+)/g, '$1/<DIR>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<UUID>')
    .replace(/\\"device_id\\":\\"[0-9a-f]+\\"/g, '<DEVICE>');
}

/** Equal, or a failure that shows where they first differ (the bodies are ~30 KB). */
function expectSame(spare: string, cold: string): void {
  if (spare === cold) return;
  let i = 0;
  while (i < spare.length && spare[i] === cold[i]) i++;
  expect(spare.slice(Math.max(0, i - 150), i + 150)).toBe(cold.slice(Math.max(0, i - 150), i + 150));
  expect(spare.length).toBe(cold.length);
}

describe.skipIf(!HAS_BWRAP)('warm Claude Code spares (sandboxed)', () => {
  let cold: Served;
  let warm: Served;
  let bareRepo: string;
  beforeAll(async () => {
    ({ bareRepo } = await createBugfixRepo(await tempDir('fixture-spares-')));
    cold = await start({ CLAUDE_SPARES: '0' });
    warm = await start({ CLAUDE_SPARES: '2', CLAUDE_SPARES_READY: '1' });
    await sparesUp(warm.server, 1, 1);
  }, 120_000);
  afterAll(async () => {
    await closeMockedServer(cold?.server, cold?.mock);
    await closeMockedServer(warm?.server, warm?.mock);
  });

  it('a run on a ready spare sends the model exactly what a cold start sends', async () => {
    const a = await firstRequest(cold, {});
    const b = await firstRequest(warm, {});
    expect(await metric(warm.server, 'agent_claude_spare_runs_total{outcome="spare_ready"}')).toBe(1);
    expectSame(normalized(b.request, warm.server), normalized(a.request, cold.server));
    // The same client, betas and API version; the proxy put the real key in place of the token.
    const pick = (r: RecordedRequest) =>
      ['anthropic-beta', 'anthropic-version', 'x-app', 'user-agent', 'x-api-key'].map((h) => r.headers[h]);
    expect(pick(b.request)).toEqual(pick(a.request));
    expect(b.request.headers['x-api-key']).toBe(KEY);
  }, 120_000);

  it('a run on a parked spare, claimed after the clone, sends what a cold start sends', async () => {
    await sparesUp(warm.server, 1, 1);
    const a = await firstRequest(cold, { repoUrl: bareRepo });
    const b = await firstRequest(warm, { repoUrl: bareRepo });
    expect(await metric(warm.server, 'agent_claude_spare_runs_total{outcome="spare_parked"}')).toBe(1);
    // The git context (branch, status, the clone's commits) is in both: the claim saw the clone.
    expect(normalized(b.request, warm.server)).toContain('Is a git repository: true');
    expectSame(normalized(b.request, warm.server), normalized(a.request, cold.server));
  }, 120_000);

  it('a session with its own system prompt skips the ready spare but uses a parked one', async () => {
    await sparesUp(warm.server, 1, 1);
    const prompt = 'Answer in French.';
    const a = await firstRequest(cold, { systemPrompt: prompt });
    const b = await firstRequest(warm, { systemPrompt: prompt });
    expect(await metric(warm.server, 'agent_claude_spare_runs_total{outcome="spare_parked"}')).toBe(2);
    expect(normalized(b.request, warm.server)).toContain(prompt);
    expectSame(normalized(b.request, warm.server), normalized(a.request, cold.server));
  }, 120_000);

  it('a run of another model starts cold; the second run of a session resumes cold in its slot', async () => {
    await sparesUp(warm.server, 1, 1);
    const other = await firstRequest(warm, { model: 'claude-haiku-4-5' });
    expect((other.request.body as { model: string }).model).toBe('claude-haiku-4-5');
    expect(await metric(warm.server, 'agent_claude_spare_runs_total{outcome="cold_no_spare"}')).toBe(1);

    const first = await firstRequest(warm, {});
    await api(warm.server.url, 'POST', `/api/sessions/${first.sessionId}/messages`, { content: 'again' });
    const evs = await waitFor(async () => {
      const { items } = await json<{ items: Array<{ type: string; data: Record<string, unknown> }> }>(
        await api(warm.server.url, 'GET', `/api/sessions/${first.sessionId}/events?after=0&limit=1000`),
      );
      return items.filter((e) => e.type === 'run.completed').length === 2 ? items : undefined;
    }, 90_000);
    // Resumed from the transcript the spare wrote (no "transcript not available" notice).
    expect(evs.filter((e) => e.type === 'session.notice')).toEqual([]);
    const last = warm.mock.requests.filter((r) => r.path === '/v1/messages').at(-1)!;
    expect(JSON.stringify(last.body)).toContain('say done');
  }, 180_000);

  it('a spare that dies while parked is replaced', async () => {
    await sparesUp(warm.server, 1, 1);
    // Every process whose command line names a spare's slot: the sandbox around each spare's CLI.
    const slotted = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(
            `${warm.server.dataDir}/workspaces/spare-`,
          );
        } catch {
          return false;
        }
      });
    const pids = processTrees(slotted);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await waitFor(async () =>
      (await metric(warm.server, 'agent_claude_spares_failed')) >= 1 ? true : undefined,
    );
    await sparesUp(warm.server, 1, 1);
    const again = await firstRequest(warm, {});
    expect(again.request).toBeDefined();
  }, 180_000);
});
