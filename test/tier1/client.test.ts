// The @duyetbot/tier1 client against the real server with signed requests (docs/api.md §3, §6, §7,
// §10): submit (and its idempotency), get, list, events, follow over SSE to the terminal status,
// cancel, the approval route's answers, a wrong secret, a per-request timeout; and the SSE resume
// after a dropped stream against a small stand-in that checks each request's signature.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AgentApiError, AgentClient, type AgentEvent } from '@duyetbot/tier1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockLlm } from '../../src/mock-llm/index.ts';
import { verifySignature } from '../../src/security/signing.ts';
import { closeMockedServer } from '../helpers/mock-server.ts';
import type { TestServer } from '../helpers/server.ts';
import { until } from '../helpers/sleep.ts';
import { SECRET, startWorkflowServer } from '../workflows/helpers.ts';

let mock: MockLlm;
let server: TestServer;
let client: AgentClient;

beforeAll(async () => {
  ({ mock, server } = await startWorkflowServer({ SIGNING_SECRET: SECRET }));
  client = new AgentClient({ baseUrl: `${server.url}/`, signingSecret: SECRET });
});
afterAll(() => closeMockedServer(server, mock));

describe('AgentClient (signed) against the server', () => {
  it('submit, idempotent submit, get, list, events, follow to the end', async () => {
    const { workflow, created } = await client.submit({
      type: 'analysis',
      instructions: 'look around',
      idempotencyKey: 'tier1-client-1',
      metadata: { tier1: { source: 'test' } },
    });
    expect(created).toBe(true);
    expect(workflow.status).toBe('pending');
    const again = await client.submit({
      type: 'analysis',
      instructions: 'look around',
      idempotencyKey: 'tier1-client-1',
    });
    expect(again).toMatchObject({ created: false, workflow: { id: workflow.id } });

    const seen: AgentEvent[] = [];
    for await (const ev of client.follow(workflow.id)) seen.push(ev);
    expect(seen.at(-1)).toMatchObject({ type: 'workflow.status', data: { status: 'completed' } });
    expect(seen.map((e) => e.seq)).toEqual(seen.map((_, i) => i + 1));
    expect(seen.map((e) => e.type)).toContain('run.completed');

    // Resuming after a seq gives exactly the rest.
    const rest: AgentEvent[] = [];
    for await (const ev of client.follow(workflow.id, { after: 3 })) rest.push(ev);
    expect(rest.map((e) => e.seq)).toEqual(seen.slice(3).map((e) => e.seq));

    expect((await client.get(workflow.id)).status).toBe('completed');
    const page = await client.events(workflow.id, 0, 2);
    expect(page.items.map((e) => e.seq)).toEqual([1, 2]);
    expect(page.lastSeq).toBe(seen.at(-1)!.seq);
    const listed = await client.list({ type: 'analysis', status: 'completed', limit: 10 });
    expect(listed.items.map((w) => w.id)).toContain(workflow.id);
    expect(listed.nextCursor).toBeNull();
  });

  it('cancel: a running workflow is cancelled; a terminal one answers 409', async () => {
    const { workflow } = await client.submit({ type: 'custom', instructions: '[[script:sleep30]] block' });
    await until(async () => (await client.get(workflow.id)).status === 'running', 'running', 20_000);
    expect((await client.cancel(workflow.id)).id).toBe(workflow.id);
    await until(async () => (await client.get(workflow.id)).status === 'cancelled', 'cancelled', 20_000);
    const err = await client.cancel(workflow.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentApiError);
    expect(err).toMatchObject({ status: 409, code: 'conflict' });
  });

  it('approve: an unknown approval is 404 (§10), with the error body parsed', async () => {
    const { workflow } = await client.submit({ type: 'analysis', instructions: 'x' });
    const err = await client.approve(workflow.id, 'apr_unknown', 'allow').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentApiError);
    expect(err).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('a wrong secret is 401; bad input is 400 with details; a silent server times out', async () => {
    const wrong = new AgentClient({ baseUrl: server.url, signingSecret: 'not-the-secret' });
    expect(await wrong.list().catch((e: unknown) => e)).toMatchObject({ status: 401, code: 'unauthorized' });
    const bad = await client
      .submit({ type: 'nope' as 'custom', instructions: 'x' })
      .catch((e: unknown) => e as AgentApiError);
    expect(bad).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(Array.isArray((bad as AgentApiError).details)).toBe(true);
    expect(() => new AgentClient({ baseUrl: server.url })).toThrow(/signingSecret or apiKey/);

    const silent = http.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const c = new AgentClient({
        baseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
        signingSecret: SECRET,
        timeoutMs: 200,
      });
      const err = (await c.get('wf_x').catch((e: unknown) => e)) as Error;
      expect(err.name).toBe('TimeoutError');
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});

describe('follow: a dropped stream', () => {
  it('resumes after the last seq with a freshly signed request, and stops at the terminal status', async () => {
    const asked: string[] = [];
    const nonces = new Set<string>();
    let refused = 0;
    const ev = (seq: number, type: string, data: Record<string, unknown> = {}) =>
      `id: ${seq}\r\nevent: ${type}\r\ndata: ${JSON.stringify({ seq, sessionId: 'wf_1', type, ts: '', data })}\r\n\r\n`;
    const sse = http.createServer((req, res) => {
      const h = (k: string) => req.headers[k] as string | undefined;
      const v = verifySignature({
        secret: SECRET,
        timestamp: h('x-timestamp'),
        nonce: h('x-nonce'),
        signature: h('x-signature'),
        method: req.method ?? '',
        pathWithQuery: req.url ?? '',
        rawBody: '',
      });
      if (!v.ok || nonces.has(h('x-nonce')!)) {
        refused++;
        return res.writeHead(401).end();
      }
      nonces.add(h('x-nonce')!);
      asked.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (asked.length === 1) {
        // two events (the second split across writes), a comment, then the connection drops
        res.write(`: keep-alive\n\n${ev(1, 'run.queued')}`);
        const second = ev(2, 'run.started');
        res.write(second.slice(0, 10));
        setTimeout(() => res.end(second.slice(10)), 20);
      } else {
        res.write(ev(2, 'run.started')); // a repeat the client must skip
        res.write(ev(3, 'workflow.status', { status: 'completed' }));
        res.write(ev(4, 'never.read'));
      }
    });
    await new Promise<void>((r) => sse.listen(0, '127.0.0.1', () => r()));
    try {
      const c = new AgentClient({
        baseUrl: `http://127.0.0.1:${(sse.address() as AddressInfo).port}`,
        signingSecret: SECRET,
      });
      const got: AgentEvent[] = [];
      for await (const e of c.follow('wf_1')) got.push(e);
      expect(got.map((e) => [e.seq, e.type])).toEqual([
        [1, 'run.queued'],
        [2, 'run.started'],
        [3, 'workflow.status'],
      ]);
      expect(asked).toEqual([
        '/api/workflows/wf_1/events?follow=true&after=0',
        '/api/workflows/wf_1/events?follow=true&after=2',
      ]);
      expect(refused).toBe(0);
    } finally {
      sse.closeAllConnections();
      sse.close();
    }
  });
});
