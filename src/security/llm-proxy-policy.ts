// What the agent's LLM proxy lets through: which paths, request fields, tools, content blocks, betas
// and headers. Pure functions over parsed requests, so each rule is testable without a server.
//
// The threat: the per-run token is readable by the commands the model runs (same uid, same sandbox).
// Whatever the proxy forwards, those commands can do with the operator's API key while the run lives.
// So it forwards the Messages API for the run's model and nothing that makes the API server act
// outside that conversation: no server-side tools (web fetch/search, code execution, MCP connector),
// no URL/file content the server would fetch, no model substitution, no other billing party.
// See notes/llm-proxy.md for why each entry is on its list.

/** Betas Claude Code (2.1.330, API-key auth) sends on its requests; each only changes the request/response format. */
export const DEFAULT_ALLOWED_BETAS: readonly string[] = [
  'claude-code-20250219', // marks Claude Code's requests (prompt format)
  'interleaved-thinking-2025-05-14', // thinking between tool calls
  'context-management-2025-06-27', // `context_management` edits (clearing old thinking/tool results)
  'thinking-token-count-2026-05-13', // thinking token counts in the response
  'thinking-display-updates-2026-08-18', // `thinking.display`
  'advanced-tool-use-2025-11-20', // `defer_loading` / `input_examples` on custom tools (server tools are stripped)
  'tool-search-tool-2025-10-19', // the older name of the same (sent instead on some providers)
  'effort-2025-11-24', // `output_config.effort`
  'per-turn-control-2026-07-01', // mid-conversation `role: "system"` messages, per-turn effort (opus 5.x)
  'mid-conversation-tool-changes-2026-07-01', // tool_addition/removal of tools declared in `tools`
  'structured-outputs-2025-12-15', // `output_config.format` (JSON schema output)
  'token-counting-2024-11-01', // /v1/messages/count_tokens
];

/** Granted with a model ending in `[1m]` only (Claude Code strips the suffix and sends this beta instead). */
export const LONG_CONTEXT_BETA = 'context-1m-2025-08-07';

/**
 * Never forwarded, whatever LLM_PROXY_ALLOW_BETAS says: they make the API server fetch, execute or
 * connect on the agent's behalf, swap the model, keep state outside the conversation, or bill
 * someone else.
 */
export const FORBIDDEN_BETA =
  /^(mcp-|files-api|code-execution|web-fetch|web-search|skills|advisor-tool|server-side-fallback|fallback-credit|managed-agents|agent-memory|environments|ccr-|message-threads|inline-tools|user-profiles)/;

const BETA_NAME = /^[a-z0-9][a-z0-9.-]{0,99}$/;

/** A problem with LLM_PROXY_ALLOW_BETAS, or null. */
export function betaConfigProblem(betas: readonly string[]): string | null {
  for (const b of betas) {
    if (!BETA_NAME.test(b)) return `LLM_PROXY_ALLOW_BETAS: "${b}" is not a beta name`;
    if (FORBIDDEN_BETA.test(b)) {
      return `LLM_PROXY_ALLOW_BETAS: "${b}" lets the API server act for the agent (server tools, files, fallbacks…) and is never forwarded`;
    }
  }
  return null;
}

export interface Route {
  kind: 'messages' | 'count_tokens' | 'models';
  method: 'POST' | 'GET';
  /** the path and the allowed query parameters, as forwarded */
  target: string;
}

/** Query parameters forwarded per route (the SDK marks beta calls with `?beta=true`). */
const QUERY_ALLOW: Record<Route['kind'], readonly string[]> = {
  messages: ['beta'],
  count_tokens: ['beta'],
  models: ['beta', 'limit', 'before_id', 'after_id'],
};

/** The route of a request target, or null (404). The query keeps only the allowed parameters. */
export function matchRoute(target: string): Route | null {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  let route: Route;
  if (path === '/v1/messages') route = { kind: 'messages', method: 'POST', target: path };
  else if (path === '/v1/messages/count_tokens')
    route = { kind: 'count_tokens', method: 'POST', target: path };
  else if (/^\/v1\/models(\/[A-Za-z0-9][A-Za-z0-9._:-]{0,199})?$/.test(path))
    route = { kind: 'models', method: 'GET', target: path };
  else return null;
  if (q !== -1) {
    const given = new URLSearchParams(target.slice(q + 1));
    const kept = new URLSearchParams();
    for (const name of QUERY_ALLOW[route.kind]) {
      const v = given.get(name);
      if (v !== null && v.length <= 200) kept.set(name, v);
    }
    const s = kept.toString();
    if (s) route.target += `?${s}`;
  }
  return route;
}

/** Top-level fields forwarded on POST /v1/messages; everything else is dropped (and logged). */
const MESSAGE_FIELDS = new Set([
  'model',
  'messages',
  'system',
  'max_tokens',
  'metadata',
  'stop_sequences',
  'stream',
  'temperature',
  'top_p',
  'top_k',
  'tools',
  'tool_choice',
  'thinking',
  'context_management', // Claude Code: clear_thinking edits
  'output_config', // Claude Code: effort; title requests: format
  'output_format', // the older structured-output field
  'cache_control', // automatic prompt caching (cheaper, metered like the rest)
]);
/** count_tokens accepts fewer fields (no max_tokens, stream, metadata, sampling). */
const COUNT_FIELDS = new Set([
  'model',
  'messages',
  'system',
  'tools',
  'tool_choice',
  'thinking',
  'context_management',
  'output_config',
  'output_format',
  'cache_control',
]);

/**
 * Tools run by the client (here: nowhere, unless the CLI implements them), so harmless to declare:
 * custom tools (no `type`, or "custom") and Anthropic-schema client tools. Everything else with a
 * `type` (web_search_*, web_fetch_*, code_execution_*, tool_search_tool_*, advisor_*, mcp_toolset, and
 * whatever comes next) runs on Anthropic's servers.
 */
const CLIENT_TOOL_TYPE = /^(custom|bash_\d{8}|text_editor_\d{8}|computer_\d{8}|memory_\d{8})$/;

export function isClientTool(t: unknown): boolean {
  if (!isObject(t)) return false;
  return t.type === undefined || (typeof t.type === 'string' && CLIENT_TOOL_TYPE.test(t.type));
}

export type FilterResult =
  | { ok: true; body: Record<string, unknown>; dropped: string[] }
  | { ok: false; message: string };

/**
 * The request body to forward: `model` must be the pinned one (no silent rewrite: the run's model
 * is what is billed and budgeted), unknown fields and server tools are dropped, and content the API
 * server would fetch itself is refused.
 */
export function filterRequestBody(
  kind: 'messages' | 'count_tokens',
  body: unknown,
  pinnedModel: string,
): FilterResult {
  if (!isObject(body)) return { ok: false, message: 'the request body must be a JSON object' };
  if (body.model !== pinnedModel) {
    const given = typeof body.model === 'string' ? `"${body.model.slice(0, 100)}"` : 'no model';
    return {
      ok: false,
      message: `model ${given} is not allowed for this run: its token is bound to "${pinnedModel}"`,
    };
  }
  const allowed = kind === 'messages' ? MESSAGE_FIELDS : COUNT_FIELDS;
  const out: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const [k, v] of Object.entries(body)) {
    if (allowed.has(k)) out[k] = v;
    else dropped.push(k);
  }
  if (isObject(out.metadata)) {
    // user_id is the only metadata field of the API; keep nothing else.
    out.metadata = typeof out.metadata.user_id === 'string' ? { user_id: out.metadata.user_id } : {};
  }
  if (Array.isArray(out.tools)) {
    const kept: unknown[] = [];
    for (const t of out.tools) {
      if (isClientTool(t)) kept.push(t);
      else dropped.push(`tools[${describeTool(t)}]`);
    }
    out.tools = kept;
  }
  const problem = contentProblem(out.messages);
  if (problem !== null) return { ok: false, message: problem };
  return { ok: true, body: out, dropped };
}

function describeTool(t: unknown): string {
  if (!isObject(t)) return typeof t;
  const type = typeof t.type === 'string' ? t.type.slice(0, 60) : '?';
  const name = typeof t.name === 'string' ? t.name.slice(0, 60) : '';
  return name ? `${type}:${name}` : type;
}

/**
 * Walks the content blocks of `messages` (and those nested in tool results, documents and tool
 * additions — not tool inputs, which are the model's free-form JSON) for content the API server
 * would act on: URL/file sources it fetches, inline definitions of server tools.
 */
function contentProblem(messages: unknown): string | null {
  if (!Array.isArray(messages)) return null;
  const stack: unknown[] = [];
  for (const m of messages) if (isObject(m) && Array.isArray(m.content)) stack.push(...m.content);
  while (stack.length > 0) {
    const b = stack.pop();
    if (!isObject(b)) continue;
    if (isObject(b.source)) {
      const st = b.source.type;
      if (st === 'url' || st === 'file') {
        return `content with a "${st}" source is not allowed through the agent proxy (the API server would fetch it): send it base64-encoded`;
      }
      if (Array.isArray(b.source.content)) stack.push(...b.source.content);
    }
    if (b.type === 'container_upload')
      return 'container_upload blocks are not allowed through the agent proxy';
    if (b.type === 'tool_result' && Array.isArray(b.content)) stack.push(...b.content);
    if (b.type === 'tool_addition' && isObject(b.tool) && b.tool.type === 'tool_definition') {
      if (!isClientTool(b.tool.definition)) {
        return `tool_addition of a server tool (${describeTool(b.tool.definition)}) is not allowed through the agent proxy`;
      }
    }
  }
  return null;
}

/** The `anthropic-beta` value to forward (allowed names only, in the client's order), and the dropped ones. */
export function filterBetas(
  header: string | string[] | undefined,
  allowed: ReadonlySet<string>,
): { value: string | undefined; dropped: string[] } {
  const given = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const kept: string[] = [];
  const dropped: string[] = [];
  for (const b of given) {
    if (allowed.has(b) && !FORBIDDEN_BETA.test(b)) {
      if (!kept.includes(b)) kept.push(b);
    } else dropped.push(b.slice(0, 100));
  }
  return { value: kept.length > 0 ? kept.join(',') : undefined, dropped };
}

/**
 * Request headers forwarded upstream. Never: credentials (authorization, x-api-key: replaced),
 * cookies, forwarding headers, workspace/profile selectors, hop-by-hop, accept-encoding (the proxy
 * asks for identity so it can meter the response).
 */
const FORWARD_HEADERS = new Set(['accept', 'anthropic-version', 'user-agent', 'x-app', 'x-client-app']);
/** Claude Code's conversation id and the SDK's platform/retry/timeout descriptors: informational only. */
const FORWARD_HEADER_PATTERN = /^(x-stainless-[a-z-]{1,40}|x-claude-code-session-id)$/;

export function forwardHeaders(
  given: Record<string, string | string[] | undefined>,
  betas: ReadonlySet<string>,
): { headers: Record<string, string>; droppedBetas: string[] } {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(given)) {
    if (v === undefined) continue;
    if (!FORWARD_HEADERS.has(k) && !FORWARD_HEADER_PATTERN.test(k)) continue;
    const value = Array.isArray(v) ? v.join(', ') : v;
    if (value.length <= 1000) headers[k] = value;
  }
  const { value, dropped } = filterBetas(given['anthropic-beta'], betas);
  if (value !== undefined) headers['anthropic-beta'] = value;
  headers['anthropic-version'] ??= '2023-06-01';
  return { headers, droppedBetas: dropped };
}

/** Response headers not passed back to the agent: hop-by-hop, cookies, the account's organization id. */
const RESPONSE_DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'set-cookie',
  'anthropic-organization-id',
]);

export function responseHeaders(
  given: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(given)) if (v !== undefined && !RESPONSE_DROP.has(k)) out[k] = v;
  return out;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
