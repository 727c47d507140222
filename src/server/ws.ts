// WebSocket /ws (docs/api.md §8) on the `ws` library. One connection may follow several sessions;
// each subscription replays stored events after `after` and then streams live ones.
//
// Limits: frames that do work (`message`, `subscribe`, `interrupt`, `approve`) take a token from the same
// per-credential bucket as HTTP requests — over it the frame is answered with a `rate_limited`
// error and not executed, and the connection stays open. Other frames (`ping`, `unsubscribe`,
// invalid ones) are free but bounded per connection: beyond FREE_FRAMES_PER_S they are ignored.
// A subscription sends its next event only once the socket has room (bufferedAmount below
// SEND_LOW_WATER), so catch-up waits for a slow reader; a connection whose buffer still passes
// MAX_BUFFERED_BYTES is closed (it can resume with after=<last seq>).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import { WsClientMessage, type WsServerMessage } from '../protocol/index.ts';
import type { Actor } from '../runs/actions.ts';
import { type EventFollower, followEvents } from '../runs/event-stream.ts';
import type { ServerDeps } from './deps.ts';
import { type TakeResult, TokenBucket } from './rate-limit.ts';
import { selectProtocol } from './ws-ticket.ts';

const MAX_FRAME_BYTES = 256 * 1024;
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Below this many buffered bytes an event is sent without waiting for the socket. */
const SEND_LOW_WATER = 1024 * 1024;
const PING_MS = 30_000;
const MAX_SUBSCRIPTIONS = 100;
const FREE_FRAMES_PER_S = 10;
const FREE_FRAMES_BURST = 50;

export interface UpgradeAuth {
  /** Returns the credential id the connection belongs to, or throws an AppError (401/429). */
  authenticate(req: IncomingMessage): Promise<string>;
  release?(credential: string): void;
  /** A token of the credential's rate limit for a frame that does work; absent = unlimited. */
  take?(credential: string): TakeResult;
}

export function createWsGateway(
  deps: ServerDeps,
  auth: UpgradeAuth,
  opts: {
    /** Clock of the per-connection frame bucket (tests). */
    now?: () => number;
  } = {},
) {
  const now = opts.now ?? Date.now;
  // A client that offers subprotocols (the dashboard: `duyetbot.v1` and its ticket) gets
  // `duyetbot.v1` back; the ticket is never echoed.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    handleProtocols: (offered) => selectProtocol(offered),
  });
  const alive = new WeakSet<WebSocket>();

  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, PING_MS);
  pinger.unref();

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    auth
      .authenticate(req)
      .then((credential) => {
        // A handshake that never becomes a connection (bad headers, client gone) frees its slot.
        let connected = false;
        if (socket.destroyed) return auth.release?.(credential);
        socket.once('close', () => {
          if (!connected) auth.release?.(credential);
        });
        wss.handleUpgrade(req, socket, head, (ws) => {
          connected = true;
          onConnection(ws, credential);
        });
      })
      .catch((err) => {
        const status = err instanceof AppError ? err.status : 500;
        const code = err instanceof AppError ? err.code : 'internal';
        const message = err instanceof AppError ? err.message : 'internal error';
        const body = JSON.stringify({ error: { code, message } });
        const extra =
          err instanceof AppError && err.retryAfterS !== undefined
            ? `Retry-After: ${err.retryAfterS}\r\n`
            : '';
        socket.end(
          `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 429 ? 'Too Many Requests' : 'Error'}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
        );
      });
  }

  function onConnection(ws: WebSocket, credential: string): void {
    const actor: Actor = { id: credential, via: 'ws' };
    const opened = performance.now();
    const connectionId = newId('ws');
    deps.logger.info('websocket opened', { component: 'ws', connectionId, credential });
    deps.metrics.wsConnections.inc();
    alive.add(ws);
    ws.on('pong', () => alive.add(ws));
    const subs = new Map<string, EventFollower>();
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    const send = (msg: WsServerMessage): boolean => {
      if (ws.readyState !== ws.OPEN) return false;
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        // A consumer this slow would make us hold its backlog in memory; it can resume from the store.
        ws.close(1013, 'slow consumer: reconnect and subscribe with after=<last seq>');
        return false;
      }
      ws.send(JSON.stringify(msg));
      return true;
    };
    /** Sends an event; resolves once the socket has room for the next (or the connection is gone). */
    const sendEvent = (msg: WsServerMessage): Promise<void> => {
      if (ws.readyState !== ws.OPEN) return Promise.resolve();
      if (ws.bufferedAmount < SEND_LOW_WATER) {
        send(msg);
        return Promise.resolve();
      }
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        send(msg); // closes the connection
        return Promise.resolve();
      }
      // The callback runs when this frame has been handed to the kernel, i.e. the backlog drained.
      const written = new Promise<void>((r) => ws.send(JSON.stringify(msg), () => r()));
      return Promise.race([written, closed]);
    };
    const fail = (code: string, message: string, sessionId?: string) =>
      send({ type: 'error', code, message, ...(sessionId ? { sessionId } : {}) });
    const freeFrames = new TokenBucket(
      { perMinute: FREE_FRAMES_PER_S * 60, burst: FREE_FRAMES_BURST },
      now(),
    );
    /** Takes a token for a frame that does work; answers `rate_limited` and returns false when there is none. */
    const admitWork = (sessionId: string): boolean => {
      const t = auth.take?.(credential);
      if (!t || t.ok) return true;
      fail(
        'rate_limited',
        `rate limit exceeded for this credential; retry in ${t.retryAfterS} s (nothing was done)`,
        sessionId,
      );
      return false;
    };

    const onMessage = async (raw: RawData, isBinary: boolean) => {
      // Frames that do no work cost no credential token, but a flood of them is not answered.
      const free = () => freeFrames.take(now()).ok;
      if (isBinary) {
        if (free()) fail('invalid_request', 'binary frames are not supported; send JSON text');
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString());
      } catch {
        if (free()) fail('invalid_request', 'frame is not valid JSON');
        return;
      }
      const res = WsClientMessage.safeParse(parsed);
      if (!res.success) {
        if (!free()) return;
        const type =
          typeof parsed === 'object' && parsed !== null ? (parsed as { type?: unknown }).type : undefined;
        const sid =
          typeof parsed === 'object' && parsed !== null
            ? (parsed as { sessionId?: unknown }).sessionId
            : undefined;
        return fail(
          'invalid_request',
          typeof type === 'string' &&
            !['subscribe', 'unsubscribe', 'message', 'interrupt', 'approve', 'ping'].includes(type)
            ? `unknown message type "${type.slice(0, 64)}"`
            : `invalid message: ${res.error.issues.map((i) => `${i.path.join('.') || 'frame'}: ${i.message}`).join('; ')}`,
          typeof sid === 'string' ? sid.slice(0, 64) : undefined,
        );
      }
      const msg = res.data;
      if (msg.type === 'ping' || msg.type === 'unsubscribe') {
        if (!free()) return;
      } else if (!admitWork(msg.sessionId)) return;
      try {
        switch (msg.type) {
          case 'ping':
            send({ type: 'pong' });
            return;
          case 'subscribe': {
            const session = await deps.sessions.get(msg.sessionId);
            if (ws.readyState !== ws.OPEN) return; // closed meanwhile: a follower now would never be closed
            subs.get(msg.sessionId)?.close();
            if (!subs.has(msg.sessionId) && subs.size >= MAX_SUBSCRIPTIONS) {
              return fail(
                'invalid_request',
                `at most ${MAX_SUBSCRIPTIONS} subscriptions per connection`,
                msg.sessionId,
              );
            }
            send({ type: 'subscribed', sessionId: msg.sessionId, lastSeq: session.lastSeq });
            subs.set(
              msg.sessionId,
              followEvents({
                store: deps.store,
                eventLog: deps.eventLog,
                sessionId: msg.sessionId,
                after: msg.after ?? 0,
                onEvent: (event) => sendEvent({ type: 'event', event }),
                onError: () =>
                  fail(
                    'internal',
                    'event stream interrupted; resubscribe with after=<last seq>',
                    msg.sessionId,
                  ),
              }),
            );
            return;
          }
          case 'unsubscribe':
            subs.get(msg.sessionId)?.close();
            subs.delete(msg.sessionId);
            return;
          case 'message': {
            if (!deps.isAccepting())
              return fail('unavailable', 'the server is shutting down and takes no new runs', msg.sessionId);
            const r = await deps.sessions.send(
              msg.sessionId,
              msg.content,
              msg.idempotencyKey,
              actor,
              msg.mode,
            );
            return send({ type: 'accepted', sessionId: r.sessionId, runId: r.runId });
          }
          case 'approve':
            // Answered by the session's `approval.resolved` event (docs/api.md §10); errors by an error frame.
            await deps.approvals.decide(
              { sessionId: msg.sessionId },
              msg.approvalId,
              { decision: msg.decision, ...(msg.message !== undefined ? { message: msg.message } : {}) },
              actor,
            );
            return;
          case 'interrupt': {
            const r = await deps.sessions.interrupt(msg.sessionId, actor);
            return send({
              type: 'interrupted',
              sessionId: msg.sessionId,
              ...(r.runId ? { runId: r.runId } : {}),
            });
          }
        }
      } catch (err) {
        if (err instanceof AppError)
          return fail(err.code, err.message, 'sessionId' in msg ? msg.sessionId : undefined);
        deps.logger.error('ws handler failed', { err });
        return fail('internal', 'internal error', 'sessionId' in msg ? msg.sessionId : undefined);
      }
    };

    ws.on('message', (raw, isBinary) => void onMessage(raw, isBinary));
    ws.on('error', () => ws.terminate());
    ws.on('close', (code) => {
      for (const f of subs.values()) f.close();
      subs.clear();
      deps.metrics.wsConnections.dec();
      deps.logger.info('websocket closed', {
        component: 'ws',
        connectionId,
        credential,
        code,
        durationMs: Math.round(performance.now() - opened),
      });
      auth.release?.(credential);
    });
  }

  return {
    handleUpgrade,
    async close(): Promise<void> {
      clearInterval(pinger);
      for (const ws of wss.clients) ws.close(1001, 'server shutting down');
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}
