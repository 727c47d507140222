// A real HTTP server speaking the Anthropic Messages API wire protocol (node:http, no framework).
// Used by integration tests, `npm run demo` and `npm run bench` through ANTHROPIC_BASE_URL.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { textReply } from './helpers.ts';
import type {
  MessagesRequest,
  MockBlock,
  MockError,
  MockLlm,
  MockLlmOptions,
  MockReply,
  MockTurn,
  RecordedRequest,
  Responder,
} from './types.ts';

const MAX_BODY_BYTES = 64 * 1024 * 1024;
const DEFAULT_TEXT_CHUNK = 16;
const DEFAULT_JSON_CHUNK = 20;

type Headers = Record<string, string | string[] | undefined>;

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Ids shaped like the real API's: `msg_01` + 22 base62 characters. */
export function newId(prefix: 'msg' | 'toolu' | 'req'): string {
  const bytes = randomBytes(22);
  let s = `${prefix}_01`;
  for (const b of bytes) s += BASE62[b % 62];
  return s;
}

/** ≈ chars / 4, at least 1. */
export function estimateTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

const DEFAULT_STATUS_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

const DEFAULT_ERROR_MESSAGES: Record<string, string> = {
  rate_limit_error: 'Number of request tokens has exceeded your per-minute rate limit',
  overloaded_error: 'Overloaded',
  api_error: 'Internal server error',
  invalid_request_error: 'Invalid request',
  authentication_error: 'invalid x-api-key',
  permission_error: 'Your API key does not have permission to use the specified resource.',
  not_found_error: 'Not found',
  request_too_large: 'Request exceeds the maximum allowed number of bytes.',
};

interface ModelEntry {
  type: 'model';
  id: string;
  display_name: string;
  created_at: string;
}

const MODELS: ModelEntry[] = [
  {
    type: 'model',
    id: 'claude-opus-4-1-20250805',
    display_name: 'Claude Opus 4.1',
    created_at: '2025-08-05T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-sonnet-4-5-20250929',
    display_name: 'Claude Sonnet 4.5',
    created_at: '2025-09-29T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-haiku-4-5-20251001',
    display_name: 'Claude Haiku 4.5',
    created_at: '2025-10-01T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-opus-4-20250514',
    display_name: 'Claude Opus 4',
    created_at: '2025-05-14T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-sonnet-4-20250514',
    display_name: 'Claude Sonnet 4',
    created_at: '2025-05-14T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-3-5-haiku-20241022',
    display_name: 'Claude Haiku 3.5',
    created_at: '2024-10-22T00:00:00Z',
  },
];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    'request-id': newId('req'),
    ...headers,
  });
  res.end(payload);
}

function sendError(res: ServerResponse, err: MockError): void {
  const type = err.type || DEFAULT_STATUS_TYPES[err.status] || 'api_error';
  const message = err.message ?? DEFAULT_ERROR_MESSAGES[type] ?? 'Error';
  const headers: Record<string, string> = {};
  if (err.retryAfterS !== undefined) {
    headers['retry-after'] = String(err.retryAfterS);
    headers['retry-after-ms'] = String(Math.round(err.retryAfterS * 1000));
  }
  const requestId = newId('req');
  headers['request-id'] = requestId;
  if (res.headersSent || res.destroyed) return;
  const status = Number.isInteger(err.status) && err.status >= 400 && err.status <= 599 ? err.status : 500;
  sendJson(res, status, { type: 'error', error: { type, message }, request_id: requestId }, headers);
}

function apiError(status: number, type: string, message: string): MockError {
  return { kind: 'error', status, type, message };
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      if (tooLarge) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(tooLarge ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('client closed the connection before the body was complete'));
    });
  });
}

function checkApiKey(headers: Headers, required: string): boolean {
  const key = headers['x-api-key'];
  if (typeof key === 'string' && key === required) return true;
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth) && auth.replace(/^Bearer\s+/i, '') === required)
    return true;
  return false;
}

/** Returns an error message, or null when the body is a valid Messages request. */
function validateMessages(body: unknown): string | null {
  if (!isRecord(body)) return 'Request body must be a JSON object';
  if (typeof body.model !== 'string' || body.model === '') return 'model: Field required';
  if (!Array.isArray(body.messages)) return 'messages: Field required';
  if (typeof body.max_tokens !== 'number' || !Number.isFinite(body.max_tokens))
    return 'max_tokens: Field required';
  if (body.max_tokens < 1) return 'max_tokens: must be greater than or equal to 1';
  for (const [i, m] of body.messages.entries()) {
    if (!isRecord(m)) return `messages.${i}: Input should be a valid dictionary`;
    // 'system' messages mid-conversation exist in the current API (Claude Code sends them).
    if (m.role !== 'user' && m.role !== 'assistant' && m.role !== 'system')
      return `messages.${i}.role: Input should be 'user', 'assistant' or 'system'`;
    if (typeof m.content !== 'string' && !Array.isArray(m.content))
      return `messages.${i}.content: Input should be a valid string or list`;
  }
  return null;
}

function validateTurn(turn: unknown): turn is MockTurn {
  if (!isRecord(turn)) return false;
  if (turn.kind === 'reply') return Array.isArray(turn.blocks);
  if (turn.kind === 'error') return typeof turn.status === 'number';
  return false;
}

interface BuiltBlock {
  block: MockBlock;
  id: string; // tool_use id ('' for other blocks)
  json: string; // serialized tool input ('' for other blocks)
}

interface Built {
  id: string;
  blocks: BuiltBlock[];
  stopReason: string;
  stopSequence: string | null;
  inputTokens: number;
  outputTokens: number;
}

function buildReply(reply: MockReply, req: MessagesRequest, bodyChars: number): Built {
  let outChars = 0;
  let hasTool = false;
  const blocks: BuiltBlock[] = [];
  for (const block of reply.blocks) {
    if (block.type === 'tool_use') {
      hasTool = true;
      const json = JSON.stringify(block.input ?? {}) ?? '{}';
      outChars += json.length + block.name.length;
      blocks.push({ block, id: block.id ?? newId('toolu'), json });
    } else if (block.type === 'thinking') {
      outChars += block.thinking.length;
      blocks.push({ block, id: '', json: '' });
    } else {
      outChars += block.text.length;
      blocks.push({ block, id: '', json: '' });
    }
  }
  const stopReason = reply.stopReason ?? (hasTool ? 'tool_use' : 'end_turn');
  let stopSequence: string | null = null;
  if (stopReason === 'stop_sequence') {
    const seqs = req.stop_sequences;
    stopSequence = Array.isArray(seqs) && typeof seqs[0] === 'string' ? seqs[0] : '\n\nHuman:';
  }
  return {
    id: newId('msg'),
    blocks,
    stopReason,
    stopSequence,
    inputTokens: reply.usage?.inputTokens ?? estimateTokens(bodyChars),
    outputTokens: reply.usage?.outputTokens ?? estimateTokens(outChars),
  };
}

function fakeSignature(): string {
  return randomBytes(48).toString('base64');
}

function contentOf(b: BuiltBlock): Record<string, unknown> {
  const block = b.block;
  if (block.type === 'tool_use')
    return { type: 'tool_use', id: b.id, name: block.name, input: block.input ?? {} };
  if (block.type === 'thinking')
    return { type: 'thinking', thinking: block.thinking, signature: fakeSignature() };
  return { type: 'text', text: block.text };
}

function usageObject(input: number, output: number): Record<string, unknown> {
  return {
    input_tokens: input,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: output,
    service_tier: 'standard',
  };
}

function messageObject(
  built: Built,
  model: string,
  content: unknown[],
  final: boolean,
): Record<string, unknown> {
  return {
    id: built.id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: final ? built.stopReason : null,
    stop_sequence: final ? built.stopSequence : null,
    usage: usageObject(built.inputTokens, final ? built.outputTokens : 1),
  };
}

/** Slices `s` into pieces of about `size` characters (lazily), never splitting a surrogate pair. */
function* chunks(s: string, size: number): Generator<string> {
  const n = Math.max(1, Math.floor(size));
  let i = 0;
  while (i < s.length) {
    let end = Math.min(s.length, i + n);
    const c = s.charCodeAt(end - 1);
    if (end < s.length && c >= 0xd800 && c <= 0xdbff) end++;
    yield s.slice(i, end);
    i = end;
  }
}

// --- streaming -------------------------------------------------------------------------------

interface Stream {
  res: ServerResponse;
  closed: boolean;
  wake: (() => void) | undefined;
}

function waitDrain(st: Stream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      st.res.off('drain', done);
      st.wake = undefined;
      resolve();
    };
    st.res.on('drain', done);
    st.wake = done;
  });
}

function sleep(st: Stream, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      st.wake = undefined;
      resolve();
    };
    const timer = setTimeout(done, ms);
    st.wake = done;
  });
}

async function emit(st: Stream, event: string, data: unknown): Promise<void> {
  if (st.closed) return;
  const ok = st.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  if (!ok && !st.closed) await waitDrain(st);
}

async function streamReply(
  res: ServerResponse,
  built: Built,
  reply: MockReply,
  model: string,
  requestId: string,
): Promise<void> {
  const st: Stream = { res, closed: false, wake: undefined };
  const onClose = (): void => {
    st.closed = true;
    st.wake?.();
  };
  res.on('close', onClose);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'request-id': requestId,
  });
  const delay = reply.deltaDelayMs ?? 0;
  const textChunk = reply.chunkSize ?? DEFAULT_TEXT_CHUNK;
  const jsonChunk = reply.chunkSize ?? DEFAULT_JSON_CHUNK;
  let first = true;
  const pause = async (): Promise<void> => {
    if (first) {
      first = false;
      return;
    }
    if (delay > 0 && !st.closed) await sleep(st, delay);
  };

  try {
    await emit(st, 'message_start', {
      type: 'message_start',
      message: messageObject(built, model, [], false),
    });
    if (built.blocks.length === 0) await emit(st, 'ping', { type: 'ping' });
    for (const [index, b] of built.blocks.entries()) {
      if (st.closed) return;
      const block = b.block;
      if (block.type === 'text') {
        await emit(st, 'content_block_start', {
          type: 'content_block_start',
          index,
          content_block: { type: 'text', text: '' },
        });
        if (index === 0) await emit(st, 'ping', { type: 'ping' });
        if (block.text.length > 0) {
          for (const piece of chunks(block.text, textChunk)) {
            if (st.closed) return;
            await pause();
            await emit(st, 'content_block_delta', {
              type: 'content_block_delta',
              index,
              delta: { type: 'text_delta', text: piece },
            });
          }
        }
      } else if (block.type === 'thinking') {
        await emit(st, 'content_block_start', {
          type: 'content_block_start',
          index,
          content_block: { type: 'thinking', thinking: '', signature: '' },
        });
        if (index === 0) await emit(st, 'ping', { type: 'ping' });
        for (const piece of chunks(block.thinking, textChunk)) {
          if (st.closed) return;
          await pause();
          await emit(st, 'content_block_delta', {
            type: 'content_block_delta',
            index,
            delta: { type: 'thinking_delta', thinking: piece },
          });
        }
        await emit(st, 'content_block_delta', {
          type: 'content_block_delta',
          index,
          delta: { type: 'signature_delta', signature: fakeSignature() },
        });
      } else {
        await emit(st, 'content_block_start', {
          type: 'content_block_start',
          index,
          content_block: { type: 'tool_use', id: b.id, name: block.name, input: {} },
        });
        if (index === 0) await emit(st, 'ping', { type: 'ping' });
        // The real API opens every tool input with an empty partial_json.
        await emit(st, 'content_block_delta', {
          type: 'content_block_delta',
          index,
          delta: { type: 'input_json_delta', partial_json: '' },
        });
        for (const piece of chunks(b.json, jsonChunk)) {
          if (st.closed) return;
          await pause();
          await emit(st, 'content_block_delta', {
            type: 'content_block_delta',
            index,
            delta: { type: 'input_json_delta', partial_json: piece },
          });
        }
      }
      await emit(st, 'content_block_stop', { type: 'content_block_stop', index });
      if (reply.midStreamError) break;
    }
    if (reply.midStreamError) {
      const type = reply.midStreamError;
      await emit(st, 'error', {
        type: 'error',
        error: { type, message: DEFAULT_ERROR_MESSAGES[type] ?? 'Error' },
        request_id: requestId,
      });
    } else {
      await emit(st, 'message_delta', {
        type: 'message_delta',
        delta: { stop_reason: built.stopReason, stop_sequence: built.stopSequence },
        usage: { output_tokens: built.outputTokens },
      });
      await emit(st, 'message_stop', { type: 'message_stop' });
    }
    if (!st.closed) res.end();
  } finally {
    res.off('close', onClose);
  }
}

// --- the server ------------------------------------------------------------------------------

const defaultResponder: Responder = () => textReply('done');

export function startMockLlm(opts: MockLlmOptions = {}): Promise<MockLlm> {
  let responder: Responder = opts.responder ?? defaultResponder;
  const maxRecorded = Math.max(0, opts.maxRecorded ?? 10_000);
  const requests: RecordedRequest[] = [];
  const listeners = new Set<(r: RecordedRequest) => void>();
  let counter = 0;

  function record(r: RecordedRequest): void {
    if (maxRecorded > 0) {
      requests.push(r);
      if (requests.length > maxRecorded) requests.splice(0, requests.length - maxRecorded);
    }
    for (const l of listeners) {
      try {
        l(r);
      } catch {
        // a listener's failure is not the server's
      }
    }
  }

  async function handleMessages(
    res: ServerResponse,
    body: unknown,
    raw: string,
    index: number,
    headers: Headers,
  ): Promise<void> {
    const invalid = validateMessages(body);
    if (invalid !== null) return sendError(res, apiError(400, 'invalid_request_error', invalid));
    const req = body as MessagesRequest;
    let turn: unknown;
    try {
      turn = await responder(req, { index, headers });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      return sendError(res, apiError(500, 'api_error', `mock-llm responder failed: ${msg}`));
    }
    if (!validateTurn(turn)) {
      return sendError(res, apiError(500, 'api_error', 'mock-llm responder returned an invalid turn'));
    }
    if (turn.kind === 'error') return sendError(res, turn);
    if (res.destroyed) return;
    const built = buildReply(turn, req, raw.length);
    if (req.stream === true) {
      await streamReply(res, built, turn, req.model, newId('req'));
    } else if (turn.midStreamError) {
      // No stream to break: the non-streaming equivalent is the request failing outright.
      const overloaded = turn.midStreamError === 'overloaded_error';
      sendError(
        res,
        apiError(
          overloaded ? 529 : 500,
          turn.midStreamError,
          overloaded ? 'Overloaded' : 'Internal server error',
        ),
      );
    } else {
      sendJson(res, 200, messageObject(built, req.model, built.blocks.map(contentOf), true));
    }
  }

  function handleCountTokens(res: ServerResponse, body: unknown, raw: string): void {
    let problem: string | null = null;
    if (!isRecord(body)) problem = 'Request body must be a JSON object';
    else if (typeof body.model !== 'string') problem = 'model: Field required';
    else if (!Array.isArray(body.messages)) problem = 'messages: Field required';
    if (problem !== null) sendError(res, apiError(400, 'invalid_request_error', problem));
    else sendJson(res, 200, { input_tokens: estimateTokens(raw.length) });
  }

  function handleModels(res: ServerResponse, path: string, query: URLSearchParams): void {
    if (path === '/v1/models') {
      const limit = Math.min(1000, Math.max(1, Number(query.get('limit') ?? 20) || 20));
      const data = MODELS.slice(0, limit);
      sendJson(res, 200, {
        data,
        has_more: data.length < MODELS.length,
        first_id: data[0]?.id ?? null,
        last_id: data[data.length - 1]?.id ?? null,
      });
      return;
    }
    let id = path.slice('/v1/models/'.length);
    try {
      id = decodeURIComponent(id);
    } catch {
      // keep it raw
    }
    const known = MODELS.find((m) => m.id === id);
    if (known) sendJson(res, 200, known);
    else if (/^claude-[a-z0-9.-]+$/.test(id)) {
      // Unknown but plausible Claude model ids are echoed, so clients probing a configured model work.
      sendJson(res, 200, { type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' });
    } else sendError(res, apiError(404, 'not_found_error', `model: ${id}`));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = Date.now();
    const index = counter++;
    res.on('error', () => {});
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    const method = req.method ?? 'GET';
    const headers = req.headers as Headers;
    const raw = await readBody(req);
    let body: unknown;
    if (raw !== null && raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const recorded: RecordedRequest = { index, path, method, url, headers, body, receivedAt };
    record(recorded);

    if (raw === null)
      return sendError(
        res,
        apiError(413, 'request_too_large', DEFAULT_ERROR_MESSAGES.request_too_large ?? ''),
      );
    if (path === '/api/hello') {
      // Claude Code's connectivity probe (HEAD, no API key) unless nonessential traffic is disabled.
      sendJson(res, 200, { message: 'hello' });
      return;
    }
    if (opts.requireApiKey !== undefined && !checkApiKey(headers, opts.requireApiKey)) {
      return sendError(res, apiError(401, 'authentication_error', 'invalid x-api-key'));
    }
    const isMessages = path === '/v1/messages';
    const isCount = path === '/v1/messages/count_tokens';
    const isModels = path === '/v1/models' || path.startsWith('/v1/models/');
    if (!isMessages && !isCount && !isModels) {
      return sendError(res, apiError(404, 'not_found_error', `Not found: ${method} ${path}`));
    }
    const wantMethod = isModels ? 'GET' : 'POST';
    if (method !== wantMethod) {
      return sendError(
        res,
        apiError(405, 'invalid_request_error', `Method ${method} not allowed on ${path}`),
      );
    }
    if (isModels) return handleModels(res, path, query);
    if (typeof body === 'string' || (body === undefined && raw.length === 0)) {
      return sendError(res, apiError(400, 'invalid_request_error', 'Request body is not valid JSON'));
    }
    if (isCount) return handleCountTokens(res, body, raw);
    return handleMessages(res, body, raw, index, headers);
  }

  const server = createServer(
    { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          const msg = err instanceof Error ? err.message : String(err);
          sendError(res, apiError(500, 'api_error', `mock-llm: ${msg}`));
        } else {
          res.destroy();
        }
      });
    },
  );
  server.on('clientError', (_err, socket) => {
    socket.destroy();
  });

  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ port: opts.port ?? 0, host: opts.host ?? '127.0.0.1', backlog: 4096 }, () => {
      server.off('error', onError);
      server.on('error', () => {});
      const addr = server.address() as AddressInfo;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      const mock: MockLlm = {
        url: `http://${host}:${addr.port}`,
        port: addr.port,
        requests,
        setResponder(r: Responder): void {
          responder = r;
        },
        onRequest(listener: (r: RecordedRequest) => void): () => void {
          listeners.add(listener);
          return () => {
            listeners.delete(listener);
          };
        },
        close(): Promise<void> {
          return new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
        },
      };
      resolve(mock);
    });
  });
}
