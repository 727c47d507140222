// Workspace retention: a finished workflow's workspace goes after WORKSPACE_RETENTION_MS, a running
// one's stays, and a symlink inside a removed workspace never takes its target with it.
import { mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockLlm } from '../../src/mock-llm/index.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { cleanupWorkspaces } from '../../src/runs/cleanup.ts';
import { WorkspaceManager } from '../../src/sandbox/workspace/manager.ts';
import { closeMockedServer } from '../helpers/mock-server.ts';
import { json, type TestServer, tempDir, waitFor } from '../helpers/server.ts';
import { type Api, events, startWorkflowServer, type Wf, waitTerminal } from './helpers.ts';

let mock: MockLlm;
let server: TestServer;
let api: Api;

beforeAll(async () => {
  ({ mock, server, api } = await startWorkflowServer({ WORKSPACE_RETENTION_MS: '100' }));
});
afterAll(() => closeMockedServer(server, mock));

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

describe('cleanupWorkspaces', () => {
  it('removes finished workflows past retention, keeps running ones and symlink targets', async () => {
    const outside = await tempDir('outside-');
    await writeFile(path.join(outside, 'keep.txt'), 'precious');
    const finished = await json<Wf>(
      await api('POST', '/api/workflows', { type: 'custom', instructions: 'quick' }),
    );
    const running = await json<Wf>(
      await api('POST', '/api/workflows', { type: 'custom', instructions: '[[script:sleep3]] slow' }),
    );
    expect((await waitTerminal(api, finished.id)).status).toBe('completed');
    await waitFor(async () => (await events(api, running.id)).some((e) => e.type === 'tool.started'), 15_000);

    const ws = new WorkspaceManager(server.dataDir);
    const fdir = ws.pathFor(finished.id);
    await mkdir(fdir, { recursive: true });
    await symlink(outside, path.join(fdir, 'escape'));
    await symlink(path.join(outside, 'keep.txt'), path.join(fdir, 'file-link'));
    const { runtime } = server;
    const args = {
      store: runtime.store,
      workspaces: ws,
      scheduler: runtime.scheduler,
      retentionMs: 100,
      logger: silentLogger,
    };
    /** A cleanup run after the retention time has passed (its clock is a parameter: no waiting). */
    const later = () => cleanupWorkspaces({ ...args, now: Date.now() + 1_000 });

    // within retention: kept
    expect(await cleanupWorkspaces({ ...args, retentionMs: 3_600_000 })).toEqual([]);
    const removed = await later();
    expect(removed).toEqual([finished.id]);
    expect(await exists(fdir)).toBe(false);
    expect(await exists(ws.pathFor(running.id))).toBe(true);
    expect(await readFile(path.join(outside, 'keep.txt'), 'utf8')).toBe('precious');
    // a session that is not a workflow is never touched by workflow retention
    const s = await json<{ id: string }>(await api('POST', '/api/sessions', {}));
    await mkdir(ws.pathFor(s.id), { recursive: true });
    expect(await later()).toEqual([]);
    expect(await exists(ws.pathFor(s.id))).toBe(true);

    expect((await waitTerminal(api, running.id)).status).toBe('completed');
    expect(await later()).toEqual([running.id]);
  });
});
