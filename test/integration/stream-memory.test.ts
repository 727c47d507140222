// Slow readers cost the server bounded memory: SSE clients that do not read a big session's
// stream, and a WebSocket subscriber whose socket does not drain, make the server read the
// session's history only as fast as they take it — and once they read again they get every event,
// once, in order. The SSE case runs the real server as a child process and watches its RSS.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.ts';
import { createStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { type ChildServer, startChildServer } from '../helpers/child-server.ts';
import { startTestServer, type TestServer, tempDir, waitFor } from '../helpers/server.ts';
import { sleep } from '../helpers/sleep.ts';
import { WsClient } from '../helpers/ws-client.ts';

const EVENTS = 50_000;
const CHUNK = 'x'.repeat(1_000);

/** A session with EVENTS stored events of ~1 KB each, written straight into the store. */
async function seedSession(store: Store, id: string): Promise<void> {
  await store.createSession({ id, title: 'big', engine: 'native', model: 'm', metadata: {} });
  for (let i = 0; i < EVENTS; i += 1_000) {
    await store.appendEvents(
      id,
      Array.from({ length: 1_000 }, (_, j) => ({
        type: 'tool.output' as const,
        runId: 'run_big',
        data: { toolUseId: 'tu', stream: 'stdout', chunk: `${i + j + 1} ${CHUNK}` },
      })),
    );
  }
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** An SSE request on a raw socket that is then not read at all. */
function idleSseClient(port: number, sessionId: string): net.Socket {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  sock.write(
    `GET /api/sessions/${sessionId}/events?follow=true HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
  );
  sock.pause();
  return sock;
}

/** Reads an SSE stream from a raw socket until `count` events arrived; returns their ids. */
function readIds(sock: net.Socket, count: number, timeoutMs = 120_000): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const ids: number[] = [];
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`only ${ids.length} events arrived`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) if (l.startsWith('id: ')) ids.push(Number(l.slice(4)));
      if (ids.length >= count) {
        clearTimeout(timer);
        resolve(ids);
      }
    });
    sock.resume();
  });
}

describe('memory under slow stream readers', () => {
  let child: ChildServer | undefined;
  let server: TestServer | undefined;
  const sockets: net.Socket[] = [];
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await child?.close();
    await server?.close();
  });

  it('8 SSE clients that do not read a 50k-event session keep the server RSS growth bounded', async () => {
    const dataDir = await tempDir('agent-sse-mem-');
    const store = await createStore({ dataDir });
    await seedSession(store, 'ses_big');
    await store.close();
    child = await startChildServer({ dataDir });
    const pid = child.pid!;
    // Warm up (route compilation, first store reads) before the baseline.
    for (let i = 0; i < 3; i++)
      await (await fetch(`${child.url}/api/sessions/ses_big/events?limit=1000`)).text();
    // ... and after the engines' warm-up, which loads their SDKs and rehearses a model turn shortly
    // after listening: the baseline is taken once the RSS holds still (four samples 500 ms apart
    // within 4 MiB — on a loaded machine one still pair came between two warm-up steps).
    let last = rssBytes(pid);
    let stillFor = 0;
    await waitFor(async () => {
      await sleep(500);
      const now = rssBytes(pid);
      stillFor = Math.abs(now - last) < 4 * 2 ** 20 ? stillFor + 1 : 0;
      last = now;
      return stillFor >= 3;
    }, 20_000);
    const baseline = rssBytes(pid);
    for (let i = 0; i < 8; i++) sockets.push(idleSseClient(child.port, 'ses_big'));
    // Watch the server while it serves them: the old follower queued every event for every client.
    let peak = baseline;
    for (let i = 0; i < 40; i++) {
      await sleep(250);
      peak = Math.max(peak, rssBytes(pid));
    }
    const growth = peak - baseline;
    expect(growth, `RSS grew by ${Math.round(growth / 2 ** 20)} MiB`).toBeLessThan(120 * 2 ** 20);
    // Backpressure did not lose anything: a client that starts reading gets all of it, in order.
    const ids = await readIds(sockets[0]!, EVENTS);
    expect(ids.length).toBe(EVENTS);
    expect(ids.every((id, i) => id === i + 1)).toBe(true);
  });

  it('a WebSocket subscriber whose socket does not drain holds up the catch-up, then gets every event once', async () => {
    server = await startTestServer({}, { logger: silentLogger });
    const store = server.runtime.store;
    await seedSession(store, 'ses_ws');
    let furthest = 0;
    const listEvents = store.listEvents.bind(store);
    store.listEvents = async (sessionId, after, limit) => {
      if (sessionId === 'ses_ws') furthest = Math.max(furthest, after);
      return listEvents(sessionId, after, limit);
    };
    const ws = await WsClient.connect(`${server.wsUrl}/ws`);
    const raw = (ws as unknown as { ws: { _socket: net.Socket } }).ws._socket;
    raw.pause(); // the client stops reading: the server's socket fills up
    ws.send({ type: 'subscribe', sessionId: 'ses_ws', after: 0 });
    // Wait until the server stops reading further (it is waiting for the socket to drain).
    let last = -1;
    await waitFor(async () => {
      await sleep(500);
      const stalled = furthest === last && furthest > 0;
      last = furthest;
      return stalled;
    }, 30_000);
    // ~50 MB of events; the socket buffers hold a few MB: the catch-up stopped well before the end.
    expect(furthest).toBeLessThan(EVENTS / 2);
    raw.resume();
    await ws.waitFor(() => ws.events('ses_ws').length >= EVENTS, 120_000);
    const got = ws.events('ses_ws').map((e) => e.seq);
    expect(got.length).toBe(EVENTS);
    expect(got.every((s, i) => s === i + 1)).toBe(true);
    expect(ws.closed).toBe(false);
    await ws.close();
  });
});
