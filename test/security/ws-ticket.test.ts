// WebSocket tickets (docs/api.md §12): the dashboard opens /ws with a short-lived, single-use
// ticket offered as a subprotocol instead of its long-lived key. Attacks: replaying a ticket,
// using it late, forging or altering one, minting one under other keys, using it as a bearer key;
// and the promises: bound to the credential that asked, never echoed, never logged.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createLogger } from '../../src/observability/logger.ts';
import { credentialId } from '../../src/server/auth.ts';
import { TICKET_PROTOCOL_PREFIX, WS_PROTOCOL, WsTickets } from '../../src/server/ws-ticket.ts';
import type { AuditRecord } from '../../src/store/types.ts';
import { ManualClock } from '../helpers/clock.ts';
import { api, json, startTestServer, type TestServer, waitFor } from '../helpers/server.ts';

const KEY = `key-${randomBytes(18).toString('hex')}`;
const KEY2 = `key2-${randomBytes(18).toString('hex')}`;

type Ticket = { ticket: string; protocol: string; expiresAt: string };

/** Opens /ws offering `protocols`; resolves with the socket, or the HTTP status and body of the refusal. */
function connect(
  wsUrl: string,
  protocols: string[],
  headers: Record<string, string> = {},
): Promise<{ ws?: WebSocket; status?: number; body?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsUrl}/ws`, protocols, { headers });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    ws.once('error', reject);
  });
}

function nextFrame(ws: WebSocket, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const on = (data: WebSocket.RawData) => {
      const f = JSON.parse(data.toString()) as Record<string, unknown>;
      if (f.type !== type) return;
      ws.off('message', on);
      resolve(f);
    };
    ws.on('message', on);
  });
}

describe('WebSocket tickets', () => {
  let server: TestServer;
  const clock = new ManualClock();
  const logLines: string[] = [];

  const ticketFor = async (key = KEY): Promise<Ticket> => {
    const res = await api(server.url, 'POST', '/api/ws-ticket', undefined, {
      Authorization: `Bearer ${key}`,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    return json<Ticket>(res);
  };
  const audit = async () =>
    (
      await json<{ items: AuditRecord[] }>(
        await api(server.url, 'GET', '/api/audit?limit=500', undefined, { Authorization: `Bearer ${KEY}` }),
      )
    ).items;

  beforeAll(async () => {
    server = await startTestServer(
      {
        API_KEYS: `${KEY},${KEY2}`,
        RATE_LIMIT_PER_MINUTE: '100000',
        AUTH_FAILURES_PER_MINUTE: '100000',
        UI_ENABLED: 'false',
      },
      { rateLimitClock: clock.now, logger: createLogger({ level: 'debug', write: (l) => logLines.push(l) }) },
    );
  });
  afterAll(async () => {
    await server?.close();
  });

  it('is issued only to an authenticated request, valid for 30 s', async () => {
    const anon = await api(server.url, 'POST', '/api/ws-ticket');
    expect(anon.status).toBe(401);
    const wrong = await api(server.url, 'POST', '/api/ws-ticket', undefined, {
      Authorization: 'Bearer nope',
    });
    expect(wrong.status).toBe(401);
    const t = await ticketFor();
    expect(t.protocol).toBe(`${TICKET_PROTOCOL_PREFIX}${t.ticket}`);
    expect(Date.parse(t.expiresAt) - clock.now()).toBe(30_000);
    expect(t.ticket).not.toContain(KEY);
    // Only characters a subprotocol token may carry.
    expect(t.protocol).toMatch(/^[A-Za-z0-9._-]+$/);
  });

  it('opens /ws as the credential that asked for it; the server answers duyetbot.v1, never the ticket', async () => {
    const t = await ticketFor(KEY2);
    const { ws } = await connect(server.wsUrl, [WS_PROTOCOL, t.protocol]);
    expect(ws).toBeDefined();
    expect(ws?.protocol).toBe(WS_PROTOCOL);
    const s = await json<{ id: string }>(
      await api(server.url, 'POST', '/api/sessions', {}, { Authorization: `Bearer ${KEY2}` }),
    );
    ws?.send(JSON.stringify({ type: 'interrupt', sessionId: s.id }));
    await nextFrame(ws!, 'interrupted');
    ws?.close();
    const rec = await waitFor(async () =>
      (await audit()).find((r) => r.action === 'session.interrupt' && r.target === s.id),
    );
    expect(rec.actor).toBe(credentialId(KEY2));
    expect(rec.details).toMatchObject({ via: 'ws' });
  });

  it('works once: a replayed ticket is refused with 401', async () => {
    const t = await ticketFor();
    const first = await connect(server.wsUrl, [WS_PROTOCOL, t.protocol]);
    expect(first.ws).toBeDefined();
    first.ws?.close();
    const again = await connect(server.wsUrl, [WS_PROTOCOL, t.protocol]);
    expect(again.status).toBe(401);
    expect(JSON.parse(again.body ?? '{}')).toMatchObject({ error: { code: 'unauthorized' } });
    expect(again.body).toContain('ticket');
  });

  it('is refused once expired', async () => {
    const t = await ticketFor();
    await clock.advance(30_001);
    expect((await connect(server.wsUrl, [WS_PROTOCOL, t.protocol])).status).toBe(401);
    // Just inside its 30 s it works.
    const fresh = await ticketFor();
    await clock.advance(29_999);
    const ok = await connect(server.wsUrl, [WS_PROTOCOL, fresh.protocol]);
    expect(ok.ws).toBeDefined();
    ok.ws?.close();
  });

  it('refuses altered, forged and foreign tickets', async () => {
    const t = await ticketFor();
    const [payload, mac] = t.ticket.split('.') as [string, string];
    // Another credential id in the payload, the MAC kept.
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const altered = Buffer.from(JSON.stringify({ ...claims, c: credentialId(KEY2) })).toString('base64url');
    // A ticket minted under other keys (another deployment, or a guess at the derivation).
    const foreign = new WsTickets(['some-other-key']).issue(credentialId(KEY)).ticket;
    const bad = [
      `${altered}.${mac}`,
      `${payload}.${Buffer.alloc(32).toString('base64url')}`,
      foreign,
      'x',
      `${payload}.${mac}.${mac}`,
      'a'.repeat(600),
    ];
    for (const ticket of bad) {
      const r = await connect(server.wsUrl, [WS_PROTOCOL, `${TICKET_PROTOCOL_PREFIX}${ticket}`]);
      expect(r.status, ticket.slice(0, 40)).toBe(401);
    }
    // The untouched ticket still works (the refusals did not use it up).
    const ok = await connect(server.wsUrl, [WS_PROTOCOL, t.protocol]);
    expect(ok.ws).toBeDefined();
    ok.ws?.close();
  });

  it('is not a key: refused as a bearer token on /api and as ?token= on /ws', async () => {
    const t = await ticketFor();
    const res = await api(server.url, 'GET', '/api/sessions', undefined, {
      Authorization: `Bearer ${t.ticket}`,
    });
    expect(res.status).toBe(401);
    const q = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${server.wsUrl}/ws?token=${encodeURIComponent(t.ticket)}`);
      ws.once('open', () => resolve(101));
      ws.once('unexpected-response', (_q, r) => resolve(r.statusCode ?? 0));
      ws.once('error', () => resolve(-1));
    });
    expect(q).toBe(401);
  });

  it('records refused tickets as auth failures without the ticket, and never logs a key or a ticket', async () => {
    const t = await ticketFor();
    const once = await connect(server.wsUrl, [WS_PROTOCOL, t.protocol]);
    once.ws?.close();
    await connect(server.wsUrl, [WS_PROTOCOL, t.protocol]);
    const failures = await waitFor(async () => {
      const f = (await audit()).filter((r) => r.action === 'auth.failed' && r.details.scheme === 'ticket');
      return f.length > 0 && f;
    });
    expect(failures[0]).toMatchObject({
      target: '/ws',
      details: { reason: 'invalid_ticket', transport: 'ws' },
    });
    const everything = JSON.stringify(await audit()) + logLines.join('\n');
    expect(everything).not.toContain(t.ticket);
    expect(everything).not.toContain(KEY);
    expect(everything).not.toContain(KEY2);
  });

  it('keeps working with a bearer header, with or without subprotocols', async () => {
    const plain = await connect(server.wsUrl, [], { Authorization: `Bearer ${KEY}` });
    expect(plain.ws?.protocol).toBe('');
    plain.ws?.close();
    const offered = await connect(server.wsUrl, [WS_PROTOCOL], { Authorization: `Bearer ${KEY}` });
    expect(offered.ws?.protocol).toBe(WS_PROTOCOL);
    offered.ws?.close();
    // Another client's protocol is answered as before; a ticket never is.
    const other = await connect(server.wsUrl, ['chat', `${TICKET_PROTOCOL_PREFIX}x.y`], {
      Authorization: `Bearer ${KEY}`,
    });
    expect(other.ws?.protocol).toBe('chat');
    other.ws?.close();
  });
});

describe('WsTickets', () => {
  it('verifies across instances configured with the same credentials, in any order', () => {
    const a = new WsTickets(['k1', 'k2', 'secret']);
    const b = new WsTickets(['secret', 'k2', 'k1']);
    const t = a.issue('key:abc').ticket;
    expect(b.verify(t)).toMatchObject({ ok: true, credential: 'key:abc' });
    expect(new WsTickets(['k1', 'k2']).verify(t)).toEqual({ ok: false, reason: 'bad_mac' });
  });

  it('without credentials (auth off) uses a key of its own process', () => {
    const t = new WsTickets([]).issue('anonymous').ticket;
    expect(new WsTickets([]).verify(t)).toEqual({ ok: false, reason: 'bad_mac' });
  });

  it('gives every ticket its own id', () => {
    const w = new WsTickets(['k']);
    const ids = new Set(
      Array.from({ length: 50 }, () => (w.verify(w.issue('c').ticket) as { id: string }).id),
    );
    expect(ids.size).toBe(50);
  });
});
