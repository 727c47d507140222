// The claude-code engine never holds the real API key: it reaches the LLM through a loopback proxy
// with a per-run token that stops working when the run ends. The token is readable by the agent's
// commands, so these tests attack it the way such a command would: other models, server tools,
// betas, headers, huge or slow bodies, many requests at once, use after the run.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.ts';
import {
  claudeCodeSideReply,
  isClaudeCodeSideRequest,
  type MockLlm,
  startMockLlm,
  textReply,
  toolCall,
  toolUseCount,
} from '../../src/mock-llm/index.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import {
  type LlmGrant,
  LlmProxy,
  type LlmProxyOptions,
  type LlmUsage,
} from '../../src/security/llm-proxy.ts';
import { waitForRunEnd } from '../helpers/events.ts';
import { api, json, startTestServer } from '../helpers/server.ts';
import { sleep } from '../helpers/sleep.ts';

const REAL_KEY = 'sk-ant-real-secret-0123456789abcdef';
const MODEL = 'claude-sonnet-4-6';

// --- a recording upstream on loopback ------------------------------------------------------------

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** set when the proxy closed the request before the upstream finished answering */
  aborted: boolean;
}
type Handler = (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen) => void;

interface Upstream {
  url: string;
  seen: Seen[];
  handler: Handler;
  close(): Promise<void>;
}

function sse(events: Array<Record<string, unknown>>): string {
  return events.map((e) => `event: ${String(e.type)}\ndata: ${JSON.stringify(e)}\n\n`).join('');
}

function usageStream(u: { input: number; output: number; cacheWrite?: number; cacheRead?: number }): string {
  return sse([
    {
      type: 'message_start',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: MODEL,
        content: [],
        usage: {
          input_tokens: u.input,
          cache_creation_input_tokens: u.cacheWrite ?? 0,
          cache_read_input_tokens: u.cacheRead ?? 0,
          output_tokens: 1,
        },
      },
    },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'ok' } },
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: u.output } },
    { type: 'message_stop' },
  ]);
}

/** Answers like the Messages API: SSE when `stream` is set, JSON otherwise, with the usage given. */
function answerWithUsage(u: {
  input: number;
  output: number;
  cacheWrite?: number;
  cacheRead?: number;
}): Handler {
  return (_req, res, seen) => {
    const body = JSON.parse(seen.body) as { stream?: boolean };
    if (body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(usageStream(u));
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'set-cookie': 'session=upstream',
      'anthropic-organization-id': 'org-secret',
      'request-id': 'req_1',
    });
    res.end(
      JSON.stringify({
        id: 'msg_2',
        type: 'message',
        content: [{ type: 'text', text: 'ok' }],
        usage: {
          input_tokens: u.input,
          output_tokens: u.output,
          cache_creation_input_tokens: u.cacheWrite ?? 0,
          cache_read_input_tokens: u.cacheRead ?? 0,
        },
      }),
    );
  };
}

async function startUpstream(): Promise<Upstream> {
  const seen: Seen[] = [];
  const up: Upstream = {
    url: '',
    seen,
    handler: answerWithUsage({ input: 1, output: 1 }),
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        aborted: false,
      };
      seen.push(s);
      res.on('close', () => {
        if (!res.writableFinished) s.aborted = true;
      });
      up.handler(req, res, s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  up.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  up.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return up;
}

// --- helpers ------------------------------------------------------------------------------------

function call(
  proxy: LlmProxy,
  token: string | undefined,
  body: unknown,
  headers: Record<string, string> = {},
  path = '/v1/messages?beta=true',
): Promise<Response> {
  return fetch(proxy.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { 'x-api-key': token } : {}), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const basic = (extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  max_tokens: 100,
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
});

async function errorOf(res: Response): Promise<{ type: string; message: string }> {
  const b = (await res.json()) as { type: string; error: { type: string; message: string } };
  expect(b.type).toBe('error');
  return b.error;
}

/** Resolves once `cond` holds (polling loopback state; no fixed sleeps). */
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

// --- against the bundled mock Anthropic API -------------------------------------------------------

describe('LLM proxy against the mock Anthropic API', () => {
  let mock: MockLlm;
  let proxy: LlmProxy;
  beforeAll(async () => {
    mock = await startMockLlm({
      requireApiKey: REAL_KEY,
      responder: () => ({
        ...textReply('hello through the proxy'),
        usage: { inputTokens: 21, outputTokens: 7 },
      }),
    });
    proxy = new LlmProxy({ upstreamUrl: mock.url, apiKey: REAL_KEY, logger: silentLogger });
    await proxy.start();
  });
  afterAll(async () => {
    await proxy?.close();
    await mock?.close();
  });

  it('swaps a live run token for the real key, streaming intact, and meters it', async () => {
    const grant = proxy.grant('run_1', { model: MODEL });
    const client = new Anthropic({ apiKey: grant.apiKey, baseURL: grant.baseUrl, maxRetries: 0 });
    const msg = await client.messages
      .stream({ model: MODEL, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage();
    expect(msg.content[0]).toMatchObject({ type: 'text', text: 'hello through the proxy' });
    const seen = mock.requests.at(-1)!;
    expect(seen.headers['x-api-key']).toBe(REAL_KEY);
    expect(seen.headers.authorization).toBeUndefined();
    expect(JSON.stringify(seen.headers)).not.toContain(grant.apiKey);
    // non-streamed too
    const plain = await client.messages.create({
      model: MODEL,
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(plain.content[0]).toMatchObject({ type: 'text', text: 'hello through the proxy' });
    expect(grant.usage()).toMatchObject({ requests: 2, inputTokens: 42, outputTokens: 14 });
    grant.release();
  });

  it('refuses a released token, an unknown token and no token', async () => {
    const grant = proxy.grant('run_2', { model: MODEL });
    grant.release();
    for (const key of [grant.apiKey, 'run-forged', undefined]) {
      const res = await call(proxy, key, basic());
      expect(res.status).toBe(401);
      expect((await errorOf(res)).type).toBe('authentication_error');
    }
    // the real key itself is not a valid run token either
    const res = await fetch(`${proxy.url}/v1/models`, { headers: { 'x-api-key': REAL_KEY } });
    expect(res.status).toBe(401);
  });

  it('only forwards the Messages and Models API, with their methods', async () => {
    const grant = proxy.grant('run_3', { model: MODEL });
    const before = mock.requests.length;
    for (const p of ['/v1/files', '/v1/organizations/me', '/admin', '/v1/messages/batches', '/api/hello']) {
      const res = await fetch(proxy.url + p, { headers: { 'x-api-key': grant.apiKey } });
      expect(res.status, p).toBe(404);
      expect((await errorOf(res)).type).toBe('not_found_error');
    }
    const get = await fetch(`${proxy.url}/v1/messages`, { headers: { 'x-api-key': grant.apiKey } });
    expect(get.status).toBe(405);
    expect((await errorOf(get)).type).toBe('invalid_request_error');
    const post = await call(proxy, grant.apiKey, {}, {}, '/v1/models');
    expect(post.status).toBe(405);
    expect(mock.requests.length).toBe(before);
    const models = await fetch(`${proxy.url}/v1/models?limit=2`, { headers: { 'x-api-key': grant.apiKey } });
    expect(models.status).toBe(200);
    grant.release();
    expect(proxy.activeGrants()).toBe(0);
  });

  it('a claude-code run works through it with its model pinned; its commands see no real key', async () => {
    mock.setResponder((req) => {
      if (isClaudeCodeSideRequest(req)) return claudeCodeSideReply(req);
      return toolUseCount(req) === 0
        ? toolCall('Bash', { command: 'env; echo END', description: 'show env' })
        : textReply('done');
    });
    const server = await startTestServer({
      ANTHROPIC_BASE_URL: mock.url,
      ANTHROPIC_API_KEY: REAL_KEY,
      AGENT_ENGINE: 'claude-code',
      AGENT_MODEL: 'claude-opus-4-1', // one Claude Code would silently remap to a newer model
    });
    const before = mock.requests.length;
    try {
      const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
      await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'print env' });
      const evs = await waitForRunEnd(server.url, s.id, 60_000);
      expect(evs.at(-1)!.type).toBe('run.completed');
      const out = String(evs.find((e) => e.type === 'tool.completed')!.data.output);
      expect(out).toContain('END');
      expect(out).not.toContain(REAL_KEY);
      expect(out).toContain('ANTHROPIC_MODEL=claude-opus-4-1');
      expect(JSON.stringify(evs)).not.toContain(REAL_KEY);
      const reqs = mock.requests.slice(before).filter((r) => r.path === '/v1/messages');
      expect(reqs.length).toBeGreaterThanOrEqual(2);
      for (const r of reqs) expect((r.body as { model: string }).model).toBe('claude-opus-4-1');
    } finally {
      await server.close();
    }
  });
});

// --- against a recording upstream -------------------------------------------------------------

describe('LLM proxy filtering, metering and limits', () => {
  let up: Upstream;
  const proxies: LlmProxy[] = [];
  async function startProxy(o: Partial<LlmProxyOptions> = {}): Promise<LlmProxy> {
    const p = new LlmProxy({ upstreamUrl: up.url, apiKey: REAL_KEY, logger: silentLogger, ...o });
    await p.start();
    proxies.push(p);
    return p;
  }
  beforeAll(async () => {
    up = await startUpstream();
  });
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.close()));
    up.seen.length = 0;
    up.handler = answerWithUsage({ input: 1, output: 1 });
  });
  afterAll(async () => {
    await up?.close();
  });

  it('another model is refused with 400 and never reaches the upstream', async () => {
    const proxy = await startProxy();
    const grant = proxy.grant('r', { model: MODEL });
    for (const model of ['claude-opus-4-1', `${MODEL}-20990101`, '', undefined]) {
      const res = await call(proxy, grant.apiKey, basic({ model }));
      expect(res.status).toBe(400);
      const err = await errorOf(res);
      expect(err.type).toBe('invalid_request_error');
      expect(err.message).toContain(MODEL);
    }
    const count = await call(
      proxy,
      grant.apiKey,
      basic({ model: 'claude-haiku-4-5' }),
      {},
      '/v1/messages/count_tokens',
    );
    expect(count.status).toBe(400);
    expect(up.seen).toHaveLength(0);
    expect(grant.usage().requests).toBe(0);
  });

  it('invalid JSON is a 400 invalid_request_error', async () => {
    const proxy = await startProxy();
    const grant = proxy.grant('r', { model: MODEL });
    const deep = `{"model":"${MODEL}","max_tokens":1,"messages":[],"system":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
    for (const body of ['{"model":', 'null', '[]', '', deep]) {
      const res = await call(proxy, grant.apiKey, body);
      expect(res.status, body.slice(0, 50)).toBe(400);
      expect((await errorOf(res)).type).toBe('invalid_request_error');
    }
    expect(up.seen).toHaveLength(0);
  });

  it('the upstream sees the filtered body: no MCP servers, server tools or unknown fields', async () => {
    const proxy = await startProxy();
    const grant = proxy.grant('r', { model: MODEL });
    const bash = { name: 'Bash', description: 'run', input_schema: { type: 'object', properties: {} } };
    const res = await call(
      proxy,
      grant.apiKey,
      basic({
        tools: [
          bash,
          { type: 'web_search_20250305', name: 'web_search' },
          { type: 'web_fetch_20250910', name: 'web_fetch' },
          { type: 'code_execution_20250825', name: 'code_execution' },
          { type: 'mcp_toolset', mcp_server_name: 'evil' },
          { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' },
        ],
        mcp_servers: [{ type: 'url', url: 'https://evil.example/mcp', name: 'evil' }],
        container: 'cntr_1',
        fallbacks: ['claude-opus-5-5'],
        speed: 'fast',
        unknown_field: { x: 1 },
        context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
        output_config: { effort: 'high' },
      }),
    );
    expect(res.status).toBe(200);
    expect(up.seen).toHaveLength(1);
    expect(JSON.parse(up.seen[0]!.body)).toEqual({
      model: MODEL,
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
      tools: [bash, { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' }],
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
      output_config: { effort: 'high' },
    });
    expect(up.seen[0]!.headers['content-length']).toBe(String(Buffer.byteLength(up.seen[0]!.body)));
  });

  it('content the API would fetch (URL images/documents) is refused before the upstream', async () => {
    const proxy = await startProxy();
    const grant = proxy.grant('r', { model: MODEL });
    const res = await call(
      proxy,
      grant.apiKey,
      basic({
        messages: [
          {
            role: 'user',
            content: [{ type: 'image', source: { type: 'url', url: 'https://evil.example/?k=secret' } }],
          },
        ],
      }),
    );
    expect(res.status).toBe(400);
    expect(up.seen).toHaveLength(0);
  });

  it('betas: allowlisted ones pass, the rest are dropped; [1m] models get the long-context beta', async () => {
    const proxy = await startProxy({ allowBetas: ['task-budgets-2026-03-13'] });
    const grant = proxy.grant('r', { model: MODEL });
    const betas = [
      'claude-code-20250219',
      'mcp-client-2025-11-20',
      'files-api-2025-04-14',
      'code-execution-2025-08-25',
      'web-fetch-2025-09-10',
      'context-1m-2025-08-07',
      'task-budgets-2026-03-13',
      'unknown-2030-01-01',
    ].join(',');
    expect((await call(proxy, grant.apiKey, basic(), { 'anthropic-beta': betas })).status).toBe(200);
    expect(up.seen[0]!.headers['anthropic-beta']).toBe('claude-code-20250219,task-budgets-2026-03-13');

    const long = proxy.grant('r2', { model: `${MODEL}[1m]` });
    expect(long.model).toBe(MODEL);
    expect((await call(proxy, long.apiKey, basic(), { 'anthropic-beta': betas })).status).toBe(200);
    expect(up.seen[1]!.headers['anthropic-beta']).toBe(
      'claude-code-20250219,context-1m-2025-08-07,task-budgets-2026-03-13',
    );
    // no beta header at all when none is left
    expect(
      (await call(proxy, grant.apiKey, basic(), { 'anthropic-beta': 'files-api-2025-04-14' })).status,
    ).toBe(200);
    expect(up.seen[2]!.headers['anthropic-beta']).toBeUndefined();
  });

  it('a forbidden beta in the configuration is a startup error', () => {
    expect(
      () =>
        new LlmProxy({
          upstreamUrl: up.url,
          apiKey: REAL_KEY,
          logger: silentLogger,
          allowBetas: ['mcp-client-2025-11-20'],
        }),
    ).toThrow(ConfigError);
  });

  it('auth and other headers: the real key replaces the token; nothing else of the client leaks', async () => {
    const proxy = await startProxy();
    const grant = proxy.grant('r', { model: MODEL });
    const res = await fetch(`${proxy.url}/v1/messages?beta=true&api_key=x`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${grant.apiKey}`,
        cookie: 'sid=1',
        'x-forwarded-for': '10.1.2.3',
        'anthropic-workspace-id': 'wrkspc_other',
        'accept-encoding': 'gzip, br',
        'user-agent': 'claude-cli/2.1.330',
        'x-stainless-retry-count': '0',
        'anthropic-version': '2023-06-01',
      },
      body: JSON.stringify(basic()),
    });
    expect(res.status).toBe(200);
    // upstream response headers that say who the account is, or set cookies, are not passed back
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('anthropic-organization-id')).toBeNull();
    expect(res.headers.get('request-id')).toBe('req_1');
    const h = up.seen[0]!.headers;
    expect(up.seen[0]!.url).toBe('/v1/messages?beta=true');
    expect(h['x-api-key']).toBe(REAL_KEY);
    expect(h.authorization).toBeUndefined();
    expect(h.cookie).toBeUndefined();
    expect(h['x-forwarded-for']).toBeUndefined();
    expect(h['anthropic-workspace-id']).toBeUndefined();
    expect(h['accept-encoding']).toBe('identity');
    expect(h['user-agent']).toBe('claude-cli/2.1.330');
    expect(h['x-stainless-retry-count']).toBe('0');
    expect(JSON.stringify(h)).not.toContain(grant.apiKey);
  });

  it('usage is summed per grant over streamed and non-streamed calls, live through onUsage', async () => {
    const proxy = await startProxy();
    const deltas: LlmUsage[] = [];
    let lastTotal: LlmUsage | undefined;
    const grant = proxy.grant('r', {
      model: MODEL,
      onUsage: (d, total) => {
        deltas.push(d);
        lastTotal = total;
      },
    });
    const other = proxy.grant('other', { model: MODEL });
    up.handler = answerWithUsage({ input: 10, output: 20, cacheWrite: 300, cacheRead: 4000 });
    for (const stream of [true, false, true]) {
      const res = await call(proxy, grant.apiKey, basic({ stream }));
      expect(res.status).toBe(200);
      await res.text();
    }
    await call(proxy, other.apiKey, basic({ stream: true })).then((r) => r.text());
    // count_tokens and refused requests are not billed
    await call(proxy, grant.apiKey, { model: MODEL, messages: [] }, {}, '/v1/messages/count_tokens').then(
      (r) => r.text(),
    );
    await call(proxy, grant.apiKey, basic({ model: 'other' })).then((r) => r.text());
    await until(() => grant.usage().outputTokens === 60, 'metered output');
    const want = {
      requests: 3,
      inputTokens: 30,
      outputTokens: 60,
      cacheCreationInputTokens: 900,
      cacheReadInputTokens: 12_000,
    };
    expect(grant.usage()).toEqual(want);
    expect(lastTotal).toEqual(want);
    const summed = deltas.reduce(
      (a, d) => ({
        requests: a.requests + d.requests,
        inputTokens: a.inputTokens + d.inputTokens,
        outputTokens: a.outputTokens + d.outputTokens,
        cacheCreationInputTokens: a.cacheCreationInputTokens + d.cacheCreationInputTokens,
        cacheReadInputTokens: a.cacheReadInputTokens + d.cacheReadInputTokens,
      }),
      { requests: 0, inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 },
    );
    expect(summed).toEqual(want);
    expect(other.usage()).toMatchObject({ requests: 1, inputTokens: 10, outputTokens: 20 });
  });

  it('at most N requests per grant at once: the next gets 429, other grants are unaffected', async () => {
    const proxy = await startProxy({ maxConcurrentPerGrant: 2 });
    const grant = proxy.grant('r', { model: MODEL });
    const held: http.ServerResponse[] = [];
    up.handler = (_req, res) => held.push(res);
    const pending = [call(proxy, grant.apiKey, basic()), call(proxy, grant.apiKey, basic())];
    await until(() => held.length === 2, 'two requests upstream');
    const third = await call(proxy, grant.apiKey, basic());
    expect(third.status).toBe(429);
    expect((await errorOf(third)).type).toBe('rate_limit_error');
    expect(third.headers.get('retry-after')).toBe('1');
    up.handler = answerWithUsage({ input: 1, output: 1 });
    const other = proxy.grant('other', { model: MODEL });
    expect((await call(proxy, other.apiKey, basic())).status).toBe(200);
    for (const r of held) {
      r.writeHead(200, { 'content-type': 'application/json' });
      r.end('{"usage":{"input_tokens":1,"output_tokens":1}}');
    }
    for (const r of await Promise.all(pending)) expect(r.status).toBe(200);
    expect((await call(proxy, grant.apiKey, basic())).status).toBe(200);
  });

  it('a slow request body or slow headers: the connection is closed at the deadline', async () => {
    const proxy = await startProxy({ requestTimeoutMs: 300 });
    const grant = proxy.grant('r', { model: MODEL });
    const slowBody = net.connect(proxy.port, '127.0.0.1');
    let answer = '';
    slowBody.on('data', (d) => {
      answer += d.toString();
    });
    const bodyClosed = new Promise<void>((r) => slowBody.on('close', () => r()));
    slowBody.write(
      `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: ${grant.apiKey}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"model":`,
    );
    const slowHeaders = net.connect(proxy.port, '127.0.0.1');
    slowHeaders.on('error', () => {});
    const headersClosed = new Promise<void>((r) => slowHeaders.on('close', () => r()));
    slowHeaders.write('POST /v1/messages HTTP/1.1\r\nhost: x\r\n');
    await Promise.all([bodyClosed, headersClosed]);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(up.seen).toHaveLength(0);
  });

  it('a client without a valid token is answered and dropped at once, its body unread', async () => {
    const proxy = await startProxy({ requestTimeoutMs: 60_000 });
    const sock = net.connect(proxy.port, '127.0.0.1');
    sock.on('error', () => {});
    let answer = '';
    sock.on('data', (d) => {
      answer += d.toString();
    });
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.write(
      'POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: run-guess\r\ncontent-type: application/json\r\ncontent-length: 10000000\r\n\r\n{"model":',
    );
    // closed long before the 60 s body deadline (the test would time out otherwise)
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 401/);
    expect(answer.toLowerCase()).toContain('connection: close');
  });

  it('a body over the cap is a 413, declared or streamed, and never reaches the upstream', async () => {
    const proxy = await startProxy({ maxBodyBytes: 64 * 1024 });
    const grant = proxy.grant('r', { model: MODEL });
    const big = JSON.stringify(basic({ system: 'x'.repeat(100 * 1024) }));
    const declared = await call(proxy, grant.apiKey, big);
    expect(declared.status).toBe(413);
    expect((await errorOf(declared)).type).toBe('request_too_large');
    // chunked, no content-length
    const streamed = await fetch(`${proxy.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': grant.apiKey },
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 4; i++)
            c.enqueue(new TextEncoder().encode(big.slice(i * 30_000, (i + 1) * 30_000)));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(up.seen).toHaveLength(0);
    // under the cap is fine
    expect((await call(proxy, grant.apiKey, basic({ system: 'x'.repeat(30 * 1024) }))).status).toBe(200);
  });

  it('released: the in-flight stream is cut (and metered so far), the token answers 401', async () => {
    const proxy = await startProxy();
    const usage: LlmUsage[] = [];
    const grant: LlmGrant = proxy.grant('r', { model: MODEL, onUsage: (_d, t) => usage.push(t) });
    let upstreamRes: http.ServerResponse | undefined;
    up.handler = (_req, res) => {
      upstreamRes = res;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // everything up to the final message_delta, then the generation "continues" forever
      const all = usageStream({ input: 50, output: 999 });
      res.write(all.slice(0, all.indexOf('event: message_delta')));
    };
    const res = await call(proxy, grant.apiKey, basic({ stream: true }));
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let got = '';
    while (!got.includes('content_block_stop')) got += new TextDecoder().decode((await reader.read()).value);
    grant.release();
    const rest = (async () => {
      for (;;) {
        const { done } = await reader.read();
        if (done) return 'ended';
      }
    })();
    await expect(rest).rejects.toThrow();
    await until(() => up.seen[0]?.aborted === true, 'the upstream request to be aborted');
    expect(upstreamRes?.writableFinished).toBe(false);
    expect(grant.usage().inputTokens).toBe(50);
    expect(grant.usage().outputTokens).toBeGreaterThanOrEqual(1);
    const after = await call(proxy, grant.apiKey, basic());
    expect(after.status).toBe(401);
    expect(up.seen).toHaveLength(1);
  });

  it('an upstream that goes silent is given up: 504 before headers, a cut stream after', async () => {
    const proxy = await startProxy({ idleTimeoutMs: 300 });
    const grant = proxy.grant('r', { model: MODEL });
    up.handler = () => {}; // never answers
    const silent = await call(proxy, grant.apiKey, basic());
    expect(silent.status).toBe(504);
    expect((await errorOf(silent)).type).toBe('timeout_error');
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: ping\ndata: {"type":"ping"}\n\n');
    };
    const stalled = await call(proxy, grant.apiKey, basic({ stream: true }));
    expect(stalled.status).toBe(200);
    await expect(stalled.text()).rejects.toThrow();
    await until(() => up.seen.every((s) => s.aborted), 'upstream requests aborted');
  });
});
