// A real HTTP server speaking the Anthropic Messages API wire protocol (node:http, no framework).
// Used by integration tests, `npm run demo` and `npm run bench` through ANTHROPIC_BASE_URL.
//
// Split by job: request.ts (reading/validation), models.ts (/v1/models), reply.ts (building a
// reply), sse.ts (streaming it), errors.ts (JSON responses and API errors). This file routes.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { apiError, DEFAULT_ERROR_MESSAGES, sendError, sendJson } from './errors.ts';
import { textReply } from './helpers.ts';
import { handleModels } from './models.ts';
import { buildReply, contentOf, estimateTokens, messageObject, newId } from './reply.ts';
import { checkApiKey, type Headers, isRecord, readBody, validateMessages, validateTurn } from './request.ts';
import { streamReply } from './sse.ts';
import type { MessagesRequest, MockLlm, MockLlmOptions, RecordedRequest, Responder } from './types.ts';

export { estimateTokens, newId } from './reply.ts';

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
