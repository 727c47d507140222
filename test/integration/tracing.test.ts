// Traces through the real server into an in-process OTLP receiver: a workflow started with a W3C
// `traceparent` yields ONE trace — the request span (child of the caller's), the run span, a span
// per model call with the GenAI attributes, the tool span and the callback delivery span — and the
// callback POST carries a traceparent of that same trace. Both OTLP encodings (protobuf, JSON).
// Without an endpoint nothing is exported and the callback passes the caller's traceparent on.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastToolResults, startMockLlm, textReply, toolCall } from '../../src/mock-llm/index.ts';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../helpers/otlp-receiver.ts';
import { json, startTestServer, waitFor } from '../helpers/server.ts';

const KEY = 'tracing-test-api-key-0001';
const MODEL = 'claude-sonnet-4-6';

/** A callback receiver on loopback that records each POST's headers. */
async function startCallbackReceiver() {
  const got: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`,
    got,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const ids = () => ({ traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') });

async function setup(extraEnv: Record<string, string>) {
  const mock = await startMockLlm({
    responder: (req) =>
      lastToolResults(req).length > 0
        ? textReply('listed', { stopReason: 'end_turn' })
        : toolCall('fs', { operation: 'list', path: '.' }),
  });
  const callbacks = await startCallbackReceiver();
  const server = await startTestServer({
    ANTHROPIC_BASE_URL: mock.url,
    ANTHROPIC_API_KEY: 'sk-ant-tracing-test-0001',
    API_KEYS: KEY,
    SIGNING_SECRET: 'tracing-signing-secret-0001',
    CALLBACK_ALLOW_HOSTS: '127.0.0.1',
    ...extraEnv,
  });
  const api = (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(server.url + p, {
      method,
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  return { mock, callbacks, server, api };
}

type Ctx = Awaited<ReturnType<typeof setup>>;

/** Starts a workflow with `traceparent` and waits for its callback. */
async function workflowWithCallback(ctx: Ctx, traceparent: string | undefined) {
  const res = await ctx.api(
    'POST',
    '/api/workflows',
    { type: 'analysis', instructions: 'list the files', callbackUrl: ctx.callbacks.url },
    traceparent ? { traceparent } : {},
  );
  expect(res.status).toBe(202);
  const wf = await json<{ id: string }>(res);
  const cb = await waitFor(async () => ctx.callbacks.got.find((g) => JSON.parse(g.body).id === wf.id));
  return { wf, cb };
}

function byName(spans: ReceivedSpan[], name: string): ReceivedSpan[] {
  return spans.filter((s) => s.name === name);
}

describe.each([
  ['http/protobuf', 'application/x-protobuf'],
  ['http/json', 'application/json'],
] as const)('traces over OTLP %s', (protocol, contentType) => {
  let receiver: OtlpReceiver;
  let ctx: Ctx;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    ctx = await setup({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_SERVICE_NAME: 'agent-under-test',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
  });
  afterAll(async () => {
    await ctx?.server.close();
    await ctx?.mock.close();
    await ctx?.callbacks.close();
    await receiver?.close();
  });

  it('one workflow with a traceparent is one trace: request → run → model calls and tool; the callback carries it', async () => {
    expect(ctx.server.runtime.tracing.enabled).toBe(true);
    const caller = ids();
    const { wf, cb } = await workflowWithCallback(ctx, `00-${caller.traceId}-${caller.spanId}-01`);
    await ctx.server.runtime.tracing.flush();
    const trace = await waitFor(async () => {
      const t = receiver.spans.filter((s) => s.traceId === caller.traceId);
      return t.some((s) => s.name === 'POST callback') ? t : undefined;
    });

    // Collector-like checks held: every export went to /v1/traces with the protocol's content type.
    expect(receiver.requests.length).toBeGreaterThan(0);
    for (const r of receiver.requests)
      expect(r).toMatchObject({ path: '/v1/traces', contentType, status: 200 });

    const [request] = byName(trace, 'POST /api/workflows');
    expect(request, trace.map((s) => s.name).join(', ')).toBeDefined();
    expect(request!.parentSpanId).toBe(caller.spanId);
    expect(request!.kind).toBe(2); // server
    expect(request!.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/api/workflows',
      'http.response.status_code': 202,
    });
    expect(request!.resource['service.name']).toBe('agent-under-test');

    const [run] = byName(trace, 'invoke_agent native');
    expect(run).toBeDefined();
    expect(run!.parentSpanId).toBe(request!.spanId);
    expect(run!.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'duyetbot.workflow.id': wf.id,
      'duyetbot.run.status': 'completed',
    });

    const calls = byName(trace, `chat ${MODEL}`).sort((a, b) => (a.startNs < b.startNs ? -1 : 1));
    expect(calls).toHaveLength(2);
    for (const c of calls) {
      expect(c.parentSpanId).toBe(run!.spanId);
      expect(c.kind).toBe(3); // client
      expect(c.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.system': 'anthropic',
        'gen_ai.provider.name': 'anthropic',
        'gen_ai.request.model': MODEL,
      });
      expect(c.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
      expect(c.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
      expect(typeof c.attributes['gen_ai.response.id']).toBe('string');
      expect(c.endNs).toBeGreaterThanOrEqual(c.startNs);
    }
    expect(calls.map((c) => c.attributes['gen_ai.response.finish_reasons'])).toEqual([
      ['tool_use'],
      ['end_turn'],
    ]);

    const [tool] = byName(trace, 'execute_tool fs');
    expect(tool).toBeDefined();
    expect(tool!.parentSpanId).toBe(run!.spanId);
    expect(tool!.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'fs',
    });
    // The tool ran between the two model calls.
    expect(tool!.startNs).toBeGreaterThanOrEqual(calls[0]!.endNs);
    expect(tool!.endNs).toBeLessThanOrEqual(calls[1]!.endNs);

    const [delivery] = byName(trace, 'POST callback');
    expect(delivery!.parentSpanId).toBe(request!.spanId);
    expect(delivery!.kind).toBe(3);
    expect(delivery!.attributes).toMatchObject({
      'server.address': '127.0.0.1',
      'duyetbot.workflow.id': wf.id,
    });
    // The callback carries the trace: its traceparent is the delivery span's.
    expect(cb.headers.traceparent).toBe(`00-${caller.traceId}-${delivery!.spanId}-01`);
    // Nothing of this workflow went to another trace.
    const others = receiver.spans.filter(
      (s) => s.traceId !== caller.traceId && s.attributes['duyetbot.workflow.id'] === wf.id,
    );
    expect(others).toEqual([]);
  });

  it('a request without (or with a malformed) traceparent starts a new trace that its run joins', async () => {
    for (const tp of [undefined, 'garbage', `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`]) {
      const { wf, cb } = await workflowWithCallback(ctx, tp);
      await ctx.server.runtime.tracing.flush();
      const run = await waitFor(async () =>
        receiver.spans.find(
          (s) => s.name === 'invoke_agent native' && s.attributes['duyetbot.workflow.id'] === wf.id,
        ),
      );
      const request = receiver.spans.find((s) => s.spanId === run.parentSpanId);
      expect(request?.name).toBe('POST /api/workflows');
      expect(request?.parentSpanId).toBeUndefined();
      expect(String(cb.headers.traceparent)).toMatch(new RegExp(`^00-${run.traceId}-[0-9a-f]{16}-01$`));
    }
  });
});

describe('tracing off (no OTLP endpoint)', () => {
  let ctx: Ctx;
  beforeAll(async () => {
    ctx = await setup({});
  });
  afterAll(async () => {
    await ctx?.server.close();
    await ctx?.mock.close();
    await ctx?.callbacks.close();
  });

  it('records nothing, and the callback passes the caller’s traceparent on unchanged', async () => {
    expect(ctx.server.runtime.tracing.enabled).toBe(false);
    const caller = ids();
    const tp = `00-${caller.traceId}-${caller.spanId}-01`;
    const { cb } = await workflowWithCallback(ctx, tp);
    expect(cb.headers.traceparent).toBe(tp);
    // Without one, the callback has none.
    const plain = await workflowWithCallback(ctx, undefined);
    expect(plain.cb.headers.traceparent).toBeUndefined();
  });
});
