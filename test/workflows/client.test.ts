// The typed API client against a real server: bearer and HMAC-signed requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient, ApiError } from '../../src/client/index.ts';
import type { MockLlm } from '../../src/mock-llm/index.ts';
import { closeMockedServer } from '../helpers/mock-server.ts';
import { type TestServer, waitFor } from '../helpers/server.ts';
import { API_KEY, SECRET, startWorkflowServer } from './helpers.ts';

let mock: MockLlm;
let server: TestServer;

beforeAll(async () => {
  ({ mock, server } = await startWorkflowServer({ SIGNING_SECRET: SECRET }));
});
afterAll(() => closeMockedServer(server, mock));

describe('AgentClient', () => {
  for (const mode of ['bearer', 'signed'] as const) {
    it(`workflows and sessions (${mode})`, async () => {
      const client = new AgentClient({
        baseUrl: server.url,
        ...(mode === 'bearer' ? { apiKey: API_KEY } : { signingSecret: SECRET }),
      });
      const { workflow, created } = await client.createWorkflow({
        type: 'analysis',
        instructions: 'look',
        idempotencyKey: `client-${mode}`,
      });
      expect(created).toBe(true);
      expect(
        (
          await client.createWorkflow({
            type: 'analysis',
            instructions: 'look',
            idempotencyKey: `client-${mode}`,
          })
        ).created,
      ).toBe(false);
      const done = await client.waitForWorkflow(workflow.id, { timeoutMs: 20_000, intervalMs: 50 });
      expect(done.status).toBe('completed');
      expect((await client.listWorkflows({ type: 'analysis', limit: 10 })).items.map((w) => w.id)).toContain(
        workflow.id,
      );
      const evs = await client.events({ workflowId: workflow.id });
      expect(evs.items.at(-1)?.type).toBe('workflow.status');
      const err = await client.cancelWorkflow(workflow.id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).status).toBe(409);
      expect((err as ApiError).code).toBe('conflict');

      const s = await client.createSession({ title: 'client' });
      const sent = await client.sendMessage(s.id, 'hello');
      expect(sent.sessionId).toBe(s.id);
      await waitFor(
        async () => (await client.events(s.id)).items.some((e) => e.type === 'run.completed'),
        20_000,
      );
    });
  }

  it('fails with 401 without credentials or with a wrong secret', async () => {
    for (const c of [
      new AgentClient({ baseUrl: server.url }),
      new AgentClient({ baseUrl: server.url, signingSecret: 'wrong' }),
    ]) {
      const err = await c.getWorkflow('wf_x').catch((e: unknown) => e);
      expect((err as ApiError).status).toBe(401);
    }
  });
});
