// API actions are recorded by the services, so HTTP and WebSocket produce the same audit record and
// the same error code for the same action; store errors are AppErrors on both transports; and
// shutdown runs every step even when one fails, naming the ones that did.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/agent/engine.ts';
import { AppError } from '../../src/errors.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { credentialId } from '../../src/server/auth.ts';
import { ConflictError, InvalidCursorError, NotFoundError } from '../../src/store/errors.ts';
import type { AuditRecord } from '../../src/store/types.ts';
import { api, json, startTestServer, type TestServer, waitFor } from '../helpers/server.ts';
import { WsClient } from '../helpers/ws-client.ts';

const KEY = 'actions-test-key-0123456789abcdef';
const auth = { Authorization: `Bearer ${KEY}` };

describe('API actions', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ API_KEYS: KEY });
  });
  afterAll(() => server.close());

  const records = (action: string, target: string) =>
    waitFor(async () => {
      const page = await server.runtime.store.listAudit({ limit: 100, action, target });
      return page.items.length >= 2 ? page.items : undefined;
    }, 10_000);

  it('a failed message is the same record and the same code over HTTP and WebSocket', async () => {
    const http = await api(server.url, 'POST', '/api/sessions/ses_missing/messages', { content: 'hi' }, auth);
    expect(http.status).toBe(404);
    const httpCode = (await json<{ error: { code: string } }>(http)).error.code;

    const ws = await WsClient.connect(`${server.wsUrl}/ws`, auth);
    ws.send({ type: 'message', sessionId: 'ses_missing', content: 'hi' });
    await ws.waitFor((f) => f.some((x) => x.type === 'error'));
    const frame = ws.frames.find((x) => x.type === 'error') as unknown as { code: string };
    await ws.close();
    expect(frame.code).toBe(httpCode);

    const recs = await records('session.message', 'ses_missing');
    const strip = (r: AuditRecord) => ({ ...r, id: 0, ts: '', details: { ...r.details, via: '' } });
    expect(strip(recs[0]!)).toEqual(strip(recs[1]!));
    expect(new Set(recs.map((r) => r.details.via))).toEqual(new Set(['http', 'ws']));
    expect(recs[0]).toMatchObject({
      actor: credentialId(KEY),
      outcome: 'error',
      details: { status: 404, error: { code: 'not_found' } },
    });
  });

  it('a successful interrupt is recorded alike from both doors', async () => {
    const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}, auth));
    expect((await api(server.url, 'POST', `/api/sessions/${s.id}/interrupt`, undefined, auth)).status).toBe(
      202,
    );
    const ws = await WsClient.connect(`${server.wsUrl}/ws`, auth);
    ws.send({ type: 'interrupt', sessionId: s.id });
    await ws.waitFor((f) => f.some((x) => x.type === 'interrupted'));
    await ws.close();
    const recs = await records('session.interrupt', s.id);
    for (const r of recs) expect(r).toMatchObject({ actor: credentialId(KEY), outcome: 'ok', target: s.id });
  });

  it('store errors are AppErrors with the contract codes', () => {
    for (const [err, code, status] of [
      [new NotFoundError('x'), 'not_found', 404],
      [new ConflictError('x'), 'conflict', 409],
      [new InvalidCursorError(), 'invalid_request', 400],
    ] as const) {
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code, status });
    }
  });
});

describe('shutdown', () => {
  it('runs every step even when one fails, and logs which failed', async () => {
    const lines: string[] = [];
    const failing: Engine = {
      name: 'native',
      run: () => Promise.reject(new Error('unused')),
      close: () => Promise.reject(new Error('engine close broke')),
    };
    const server = await startTestServer(
      {},
      {
        engines: { native: failing },
        logger: createLogger({ level: 'error', write: (l) => lines.push(l) }),
      },
    );
    await server.runtime.shutdown(1_000);
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; step?: string; failed?: string[] });
    expect(logged.find((l) => l.msg === 'shutdown step failed')?.step).toBe('engine native');
    expect(logged.find((l) => l.msg === 'shutdown finished with failures')?.failed).toEqual([
      'engine native',
    ]);
    // The steps after the failed one ran: the HTTP server is closed and so is the store.
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
    await expect(server.runtime.store.ping()).rejects.toThrow();
  });
});
