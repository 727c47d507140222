// The per-workspace disk quota is enforced while a run is active: a run that fills its workspace
// past WORKSPACE_QUOTA_BYTES is stopped and fails with `disk_quota_exceeded`; the session stays usable.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockLlm, scripted, textReply, toolCall } from '../../src/mock-llm/index.ts';
import { allEvents, waitForRunEnd } from '../helpers/events.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { api, json, type TestServer, waitFor } from '../helpers/server.ts';

describe('workspace disk quota', () => {
  let mock: MockLlm;
  let server: TestServer;
  beforeAll(async () => {
    ({ mock, server } = await startMockedServer(
      {
        responder: scripted([
          toolCall('bash', { command: 'dd if=/dev/zero of=big bs=1M count=20 status=none; sleep 30' }),
        ]),
      },
      {
        ANTHROPIC_API_KEY: 'k',
        WORKSPACE_QUOTA_BYTES: String(4 * 1024 * 1024),
        WORKSPACE_QUOTA_INTERVAL_MS: '100',
      },
    ));
  });
  afterAll(() => closeMockedServer(server, mock));

  it('stops a run that fills its workspace past the quota', async () => {
    const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    const t0 = Date.now();
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'fill the disk' });
    const evs = await waitForRunEnd(server.url, s.id, 20_000);
    expect(Date.now() - t0).toBeLessThan(15_000); // long before `sleep 30` would end
    const failed = evs.find((e) => e.type === 'run.failed');
    expect(failed?.data.error).toMatchObject({ code: 'disk_quota_exceeded' });

    // Back under the quota, the session works again.
    await rm(path.join(server.dataDir, 'workspaces', s.id, 'big'), { force: true });
    mock.setResponder(() => textReply('fine again'));
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'hello' });
    await waitFor(
      async () => (await allEvents(server.url, s.id)).some((e) => e.type === 'run.completed'),
      20_000,
    );
  });
});
