// Steering in the real sandbox: a message with `mode: "interrupt"` kills the tool call's process
// inside bubblewrap at once (not after its 60 s), and the new run goes on with the partial output.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textsOf } from '../../src/mock-llm/helpers.ts';
import { type MessagesRequest, type MockLlm, textReply, toolCall } from '../../src/mock-llm/index.ts';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { allEvents } from '../helpers/events.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { api, json, type TestServer, waitFor } from '../helpers/server.ts';
import { until } from '../helpers/sleep.ts';

const lastUserText = (req: MessagesRequest): string => {
  const last = [...req.messages].reverse().find((m) => m.role === 'user');
  return last ? textsOf(last.content).join('\n') : '';
};

/** Processes (host view, any pid namespace) running `sleep 60.201`. */
function sleeping(): number {
  let n = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('sleep') && argv[1] === '60.201') n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

describe.skipIf(!HAS_BWRAP)('steering in the bubblewrap sandbox', () => {
  let mock: MockLlm;
  let server: TestServer;
  beforeAll(async () => {
    ({ mock, server } = await startMockedServer(
      {
        responder: (req) =>
          lastUserText(req).includes('LONG')
            ? toolCall('bash', { command: 'echo started; sleep 60.201' })
            : textReply('steered'),
      },
      { ANTHROPIC_API_KEY: 'k', SANDBOX: 'bwrap' },
    ));
  });
  afterAll(() => closeMockedServer(server, mock));

  it('kills the sandboxed sleep and runs the steering message next', async () => {
    const { id } = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    await api(server.url, 'POST', `/api/sessions/${id}/messages`, { content: 'LONG' });
    await until(() => sleeping() > 0, 'the sandboxed sleep', 20_000);
    const res = await api(server.url, 'POST', `/api/sessions/${id}/messages`, {
      content: 'stop it',
      mode: 'interrupt',
    });
    expect(res.status).toBe(202);
    await until(() => sleeping() === 0, 'the sandboxed sleep to be killed');
    const evs = await waitFor(async () => {
      const all = await allEvents(server.url, id);
      return all.some((e) => e.type === 'run.completed') ? all : undefined;
    }, 20_000);
    expect(evs.filter((e) => e.type === 'run.cancelled')).toHaveLength(1);
    const steered = mock.requests.find((r) => lastUserText(r.body as MessagesRequest).includes('stop it'));
    expect(steered).toBeDefined();
    expect(JSON.stringify((steered!.body as MessagesRequest).messages)).toContain('started');
  });
});
