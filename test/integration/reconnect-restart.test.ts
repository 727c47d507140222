// Resumable streams and durability: a client that drops mid-run and resubscribes with
// after=<last seq> gets every remaining event exactly once; a restarted server still has
// sessions, messages and events; interrupt stops a run and leaves the session usable.
import { afterEach, describe, expect, it } from 'vitest';
import { type MockLlm, scripted, startMockLlm, textReply, toolCall } from '../../src/mock-llm/index.ts';
import { allEvents } from '../helpers/events.ts';
import { api, json, startTestServer, type TestServer, tempDir, waitFor } from '../helpers/server.ts';
import { WsClient } from '../helpers/ws-client.ts';

type Ev = { seq: number; type: string; runId?: string; data: Record<string, unknown> };

let mock: MockLlm | undefined;
let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  await mock?.close();
  server = undefined;
  mock = undefined;
});

describe('reconnect, restart, interrupt', () => {
  it('a client that disconnects mid-run and resubscribes with after=<last seq> receives every remaining event once', async () => {
    // A slow stream: 40 deltas 25 ms apart, so the run is still going when the client drops.
    mock = await startMockLlm({
      responder: () => textReply('x'.repeat(400), { chunkSize: 10, deltaDelayMs: 25 }),
    });
    server = await startTestServer({ ANTHROPIC_BASE_URL: mock.url, ANTHROPIC_API_KEY: 'k' });
    const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    const ws1 = await WsClient.connect(`${server.wsUrl}/ws`);
    ws1.send({ type: 'subscribe', sessionId: s.id, after: 0 });
    await ws1.waitFor((f) => f.some((x) => x.type === 'subscribed'));
    ws1.send({ type: 'message', sessionId: s.id, content: 'stream please' });
    await ws1.waitFor((f) => f.some((x) => x.type === 'accepted'));
    await ws1.waitFor(() => ws1.events().filter((e) => e.type === 'text.delta').length >= 3);
    ws1.terminate();
    const seen = ws1.events() as Ev[];
    const last = seen.at(-1)!.seq;

    const ws2 = await WsClient.connect(`${server.wsUrl}/ws`);
    ws2.send({ type: 'subscribe', sessionId: s.id, after: last });
    await ws2.waitFor(() => ws2.events().some((e) => e.type === 'run.completed'), 30_000);
    const rest = ws2.events() as Ev[];
    await ws2.close();

    expect(rest.length).toBeGreaterThan(0);
    expect(rest[0]!.seq).toBe(last + 1);
    const combined = [...seen, ...rest].map((e) => e.seq);
    expect(combined).toEqual(combined.map((_, i) => i + 1)); // no gap, no duplicate
    const stored = await allEvents(server.url, s.id);
    expect(stored.map((e) => e.seq)).toEqual(combined);
    const text = [...seen, ...rest]
      .filter((e) => e.type === 'text.delta')
      .map((e) => e.data.text)
      .join('');
    expect(text).toBe('x'.repeat(400));
  });

  it('sessions, messages and events survive a server restart', async () => {
    mock = await startMockLlm({ responder: () => textReply('persisted answer') });
    const dataDir = await tempDir();
    server = await startTestServer({
      DATA_DIR: dataDir,
      ANTHROPIC_BASE_URL: mock.url,
      ANTHROPIC_API_KEY: 'k',
    });
    const s = await json<{ id: string }>(
      await api(server.url, 'POST', '/api/sessions', { title: 'durable', metadata: { a: 1 } }),
    );
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'remember me' });
    await waitFor(async () => (await allEvents(server!.url, s.id)).some((e) => e.type === 'run.completed'));
    const before = await allEvents(server.url, s.id);
    await server.close();

    server = await startTestServer({
      DATA_DIR: dataDir,
      ANTHROPIC_BASE_URL: mock.url,
      ANTHROPIC_API_KEY: 'k',
    });
    const got = await json<{
      title: string;
      metadata: Record<string, unknown>;
      lastSeq: number;
      status: string;
    }>(await api(server.url, 'GET', `/api/sessions/${s.id}`));
    expect(got).toMatchObject({
      title: 'durable',
      metadata: { a: 1 },
      lastSeq: before.length,
      status: 'idle',
    });
    expect(await allEvents(server.url, s.id)).toEqual(before);
    const msgs = await json<{ items: Array<{ role: string; text: string }> }>(
      await api(server.url, 'GET', `/api/sessions/${s.id}/messages`),
    );
    expect(msgs.items.map((m) => [m.role, m.text])).toEqual([
      ['user', 'remember me'],
      ['assistant', 'persisted answer'],
    ]);
    // and new events continue the same seq
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'again' });
    const after = await waitFor(async () => {
      const evs = await allEvents(server!.url, s.id);
      return evs.filter((e) => e.type === 'run.completed').length === 2 ? evs : undefined;
    });
    expect(after.map((e) => e.seq)).toEqual(after.map((_, i) => i + 1));
  });

  it('interrupt stops a run mid-tool; the session stays usable', async () => {
    mock = await startMockLlm({
      responder: scripted([toolCall('bash', { command: 'sleep 30' })], {
        fallback: textReply('after interrupt'),
      }),
    });
    server = await startTestServer({ ANTHROPIC_BASE_URL: mock.url, ANTHROPIC_API_KEY: 'k' });
    const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'sleep' });
    await waitFor(async () => (await allEvents(server!.url, s.id)).some((e) => e.type === 'tool.started'));
    const t0 = Date.now();
    const r = await api(server.url, 'POST', `/api/sessions/${s.id}/interrupt`);
    expect(r.status).toBe(202);
    const evs = await waitFor(async () => {
      const e = await allEvents(server!.url, s.id);
      return e.some((x) => x.type === 'run.cancelled') ? e : undefined;
    }, 10_000);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(evs.some((e) => e.type === 'run.completed' || e.type === 'run.failed')).toBe(false);
    const session = await json<{ status: string }>(await api(server.url, 'GET', `/api/sessions/${s.id}`));
    expect(session.status).toBe('idle');

    mock.setResponder(() => textReply('still here'));
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'hello?' });
    const evs2 = await waitFor(async () => {
      const e = await allEvents(server!.url, s.id);
      return e.some((x) => x.type === 'run.completed') ? e : undefined;
    });
    expect(evs2.find((e) => e.type === 'message.assistant' && e.data.text === 'still here')).toBeTruthy();
  });

  it('a run without LLM credentials fails with a clear error naming the setting', async () => {
    server = await startTestServer({ ANTHROPIC_API_KEY: '' });
    const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'hi' });
    const evs = await waitFor(async () => {
      const e = await allEvents(server!.url, s.id);
      return e.some((x) => x.type === 'run.failed') ? e : undefined;
    });
    const failed = evs.find((e) => e.type === 'run.failed')!;
    expect(failed.data.error).toMatchObject({ code: 'missing_api_key' });
    expect(String((failed.data.error as { message: string }).message)).toContain('ANTHROPIC_API_KEY');
  });
});
