// The client side of the streaming benchmark, in its own process so its event loop is not the
// server's: WebSocket connections (each following up to `perConn` sessions) that parse every
// `⟨t=…⟩` emit stamp out of each text.delta and record receive time − emit time.
// With an API key: `bearer` sends it on the upgrade (a server-side client); `ticket` does what the
// dashboard does — POST /api/ws-ticket with the key, then offer the ticket as a subprotocol.
import WebSocket from 'ws';
import { serve } from './ipc.ts';
import { epochMs, stampsIn } from './timed-mock.ts';

interface EventFrame {
  type: string;
  event?: { type: string; sessionId: string; data: { text?: string } };
}

const sockets: WebSocket[] = [];
let emit: number[] = [];
let delay: number[] = [];
let frames = 0;
const terminal = new Set<string>();
let failed = 0;

function onFrame(raw: WebSocket.RawData): void {
  const now = epochMs();
  frames++;
  const f = JSON.parse(raw.toString()) as EventFrame;
  const e = f.event;
  if (f.type !== 'event' || !e) return;
  if (e.type === 'text.delta') {
    for (const t of stampsIn(e.data.text ?? '')) {
      emit.push(t);
      delay.push(now - t);
    }
  } else if (e.type === 'run.completed' || e.type === 'run.failed' || e.type === 'run.cancelled') {
    if (e.type !== 'run.completed') failed++;
    terminal.add(e.sessionId);
  }
}

export interface ClientAuth {
  key: string;
  mode: 'bearer' | 'ticket';
  /** the server's HTTP base URL (tickets) */
  httpUrl: string;
}

async function ticketProtocols(auth: ClientAuth): Promise<string[]> {
  const res = await fetch(`${auth.httpUrl}/api/ws-ticket`, {
    method: 'POST',
    headers: { authorization: `Bearer ${auth.key}` },
  });
  if (res.status !== 200 && res.status !== 201)
    throw new Error(`POST /api/ws-ticket → ${res.status}: ${await res.text()}`);
  const { protocol } = (await res.json()) as { protocol: string };
  return ['duyetbot.v1', protocol];
}

async function connect(wsUrl: string, sessionIds: string[], auth?: ClientAuth): Promise<void> {
  const opts = { perMessageDeflate: false };
  const ws =
    auth?.mode === 'ticket'
      ? new WebSocket(wsUrl, await ticketProtocols(auth), opts)
      : new WebSocket(wsUrl, {
          ...opts,
          ...(auth ? { headers: { authorization: `Bearer ${auth.key}` } } : {}),
        });
  sockets.push(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const want = new Set(sessionIds);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`subscribe timed out (${want.size} left)`)), 60_000);
    ws.on('message', (raw) => {
      if (want.size > 0) {
        const f = JSON.parse(raw.toString()) as { type: string; sessionId?: string; message?: string };
        if (f.type === 'subscribed' && f.sessionId) want.delete(f.sessionId);
        if (f.type === 'error') reject(new Error(`ws error: ${f.message}`));
        if (want.size === 0) {
          clearTimeout(t);
          resolve();
        }
        if (f.type !== 'event') return;
      }
      onFrame(raw);
    });
    for (const id of sessionIds) ws.send(JSON.stringify({ type: 'subscribe', sessionId: id, after: 0 }));
  });
}

serve({
  async connect(msg) {
    const ids = msg.sessionIds as string[];
    const perConn = msg.perConn as number;
    const groups: string[][] = [];
    for (let i = 0; i < ids.length; i += perConn) groups.push(ids.slice(i, i + perConn));
    const auth = msg.auth as ClientAuth | undefined;
    // Opened a few at a time: a thousand upgrades (and ticket requests) at once only measure the
    // accept queue, and a ticket is valid for 30 s.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < groups.length) await connect(msg.wsUrl as string, groups[next++]!, auth);
    };
    await Promise.all(Array.from({ length: Math.min(32, groups.length) }, worker));
    return { connections: sockets.length };
  },
  async cpu() {
    const c = process.cpuUsage();
    return { userUs: c.user, systemUs: c.system, at: performance.now() };
  },
  async status() {
    return { terminal: terminal.size, failed, frames, samples: delay.length };
  },
  async collect() {
    const r = { emit, delay, frames, terminal: terminal.size, failed };
    emit = [];
    delay = [];
    return r;
  },
  async close() {
    for (const ws of sockets) ws.terminate();
    setImmediate(() => process.exit(0));
    return {};
  },
});
