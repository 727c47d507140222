// A stand-in for the agent server in the Worker's unit tests: it checks every request's signature
// with the server's own verifier (src/security/signing.ts) and refuses replayed nonces, answers
// POST /api/workflows with a pending workflow, and answers the §10 approval route with what the
// test scripts (200, 404, 409). It can sign callbacks to the Worker as the server does.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { callbackSignedHeaders, verifySignature } from '../../src/security/signing.ts';

export interface AgentRequest {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
}

export interface FakeAgent {
  url: string;
  requests: AgentRequest[];
  /** Requests refused for a bad signature or a replayed nonce. */
  refused: number;
  /** The approval route's answer for the next calls (default 200). */
  approvalStatus: number;
  /** Signs and POSTs a callback to `url` as the server does. */
  callback(
    url: string,
    body: unknown,
    headers?: Record<string, string>,
    sign?: (raw: string) => Record<string, string>,
  ): Promise<Response>;
  close(): Promise<void>;
}

export async function startFakeAgent(secret: string): Promise<FakeAgent> {
  const nonces = new Set<string>();
  let n = 0;
  const state = {
    requests: [] as AgentRequest[],
    refused: 0,
    approvalStatus: 200,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const send = (status: number, body: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      const h = (k: string) => req.headers[k] as string | undefined;
      const v = verifySignature({
        secret,
        timestamp: h('x-timestamp'),
        nonce: h('x-nonce'),
        signature: h('x-signature'),
        method: req.method ?? '',
        pathWithQuery: req.url ?? '',
        rawBody: raw,
      });
      if (!v.ok || nonces.has(h('x-nonce')!)) {
        state.refused++;
        return send(401, { error: { code: 'unauthorized', message: v.ok ? 'replayed nonce' : v.reason } });
      }
      nonces.add(h('x-nonce')!);
      const body = raw.length ? (JSON.parse(raw.toString('utf8')) as Record<string, unknown>) : undefined;
      const path = req.url ?? '';
      state.requests.push({ method: req.method ?? '', path, body });
      if (req.method === 'POST' && path === '/api/workflows') {
        const id = `wf_fake${++n}`;
        return send(202, {
          id,
          type: body?.type,
          priority: 'medium',
          status: 'pending',
          instructions: body?.instructions,
          payload: {},
          metadata: body?.metadata ?? {},
          sessionId: id,
          attempts: 0,
          createdAt: new Date().toISOString(),
          usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
        });
      }
      const ap = /^\/api\/workflows\/([^/]+)\/approvals\/([^/]+)$/.exec(path);
      if (req.method === 'POST' && ap) {
        const s = state.approvalStatus;
        if (s === 200)
          return send(200, { approvalId: decodeURIComponent(ap[2]!), decision: body?.decision, by: 'user' });
        return send(s, { error: { code: s === 409 ? 'conflict' : 'not_found', message: 'scripted' } });
      }
      send(404, { error: { code: 'not_found', message: 'no such route in the fake' } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(state, {
    url,
    callback(
      to: string,
      body: unknown,
      headers: Record<string, string> = {},
      sign: (raw: string) => Record<string, string> = (raw) => callbackSignedHeaders(secret, to, raw),
    ) {
      const raw = JSON.stringify(body);
      return fetch(to, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...sign(raw), ...headers },
        body: raw,
      });
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
