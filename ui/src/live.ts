// The live connection: one WebSocket (docs/api.md §8) shared by every view, opened with a
// single-use ticket offered as a subprotocol (the key stays out of the URL), re-opened after a drop.
//
// Resuming without a gap or a duplicate: each subscriber says which seq it has applied last
// (`after()`), and every (re)subscription asks for the events after exactly that seq; the
// subscriber also drops anything at or below it (see model/run.ts). A connection that went quiet
// (a laptop that slept, a network that vanished without a FIN) is found by a ping that gets no
// answer, and replaced; `offline`/`online` events of the browser close and reopen it at once.
import { ApiError, api } from './api.ts';
import type { Event, WsServerMessage, WsTicket } from './types.ts';

export type LiveState = 'connecting' | 'open' | 'offline' | 'reconnecting' | 'stopped';

export interface Subscriber {
  /** The last seq applied: the subscription resumes after it. */
  after(): number;
  onEvent(event: Event): void;
  onSubscribed?(lastSeq: number): void;
  onError?(code: string, message: string): void;
}

/** Frames the dashboard sends (a subset of docs/api.md §8). */
export type ClientFrame =
  | { type: 'subscribe'; sessionId: string; after?: number }
  | { type: 'unsubscribe'; sessionId: string }
  | { type: 'ping' };

const PING_EVERY_MS = 15_000;
const PONG_WITHIN_MS = 8_000;
const MAX_BACKOFF_MS = 10_000;

export class Live {
  state: LiveState = 'connecting';
  private ws: WebSocket | undefined;
  private subs = new Map<string, Subscriber>();
  private watchers = new Set<(s: LiveState) => void>();
  private backoffMs = 250;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private lastHeard = 0;
  private pingSentAt = 0;
  private stopped = true;
  private readonly onOnline = () => this.reconnectNow();
  private readonly onOffline = () => {
    this.drop();
    this.setState('offline');
  };
  private readonly onVisible = () => {
    if (document.visibilityState === 'visible') this.checkAlive();
  };

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    document.addEventListener('visibilitychange', this.onVisible);
    this.heartbeat = setInterval(() => this.checkAlive(), PING_EVERY_MS / 3);
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    document.removeEventListener('visibilitychange', this.onVisible);
    clearInterval(this.heartbeat);
    clearTimeout(this.retry);
    this.drop();
    this.setState('stopped');
  }

  watch(fn: (s: LiveState) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /** Follows a session's events; replaces an earlier subscriber of the same session. */
  subscribe(sessionId: string, sub: Subscriber): () => void {
    this.subs.set(sessionId, sub);
    this.send({ type: 'subscribe', sessionId, after: sub.after() });
    return () => {
      if (this.subs.get(sessionId) !== sub) return;
      this.subs.delete(sessionId);
      this.send({ type: 'unsubscribe', sessionId });
    };
  }

  /** Asks again from the subscriber's last seq (after a gap was seen). */
  resubscribe(sessionId: string): void {
    const sub = this.subs.get(sessionId);
    if (sub) this.send({ type: 'subscribe', sessionId, after: sub.after() });
  }

  private send(frame: ClientFrame): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  private setState(s: LiveState): void {
    if (this.state === s) return;
    this.state = s;
    for (const w of this.watchers) w(s);
  }

  /** Forgets the current socket without waiting for its close handshake. */
  private drop(): void {
    const ws = this.ws;
    this.ws = undefined;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(1000, 'reconnecting');
    } catch {
      // already closed
    }
  }

  private reconnectNow(): void {
    if (this.stopped) return;
    clearTimeout(this.retry);
    this.backoffMs = 250;
    this.drop();
    void this.connect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    clearTimeout(this.retry);
    this.setState(navigator.onLine ? 'reconnecting' : 'offline');
    const wait = this.backoffMs * (0.75 + Math.random() / 2);
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    this.retry = setTimeout(() => void this.connect(), wait);
  }

  private checkAlive(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (this.pingSentAt > this.lastHeard && now - this.pingSentAt > PONG_WITHIN_MS) {
      // No answer to the last ping: the connection is gone even if the socket does not know yet.
      this.drop();
      this.scheduleReconnect();
      return;
    }
    if (now - this.lastHeard > PING_EVERY_MS && this.pingSentAt <= this.lastHeard) {
      this.pingSentAt = now;
      this.send({ type: 'ping' });
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.ws) return;
    if (!navigator.onLine) {
      this.setState('offline');
      return;
    }
    if (this.state !== 'connecting') this.setState('reconnecting');
    let ticket: WsTicket;
    try {
      ticket = await api<WsTicket>('POST', '/api/ws-ticket');
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.stop();
      return this.scheduleReconnect();
    }
    if (this.stopped || this.ws) return;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    const ws = new WebSocket(url, ['duyetbot.v1', ticket.protocol]);
    this.ws = ws;
    ws.onopen = () => {
      this.backoffMs = 250;
      this.lastHeard = Date.now();
      this.pingSentAt = 0;
      this.setState('open');
      for (const [sessionId, sub] of this.subs)
        this.send({ type: 'subscribe', sessionId, after: sub.after() });
    };
    ws.onmessage = (m) => {
      this.lastHeard = Date.now();
      if (typeof m.data !== 'string') return;
      let msg: WsServerMessage;
      try {
        msg = JSON.parse(m.data) as WsServerMessage;
      } catch {
        return;
      }
      this.dispatch(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and reconnects
    };
  }

  private dispatch(msg: WsServerMessage): void {
    switch (msg.type) {
      case 'event':
        this.subs.get(msg.event.sessionId)?.onEvent(msg.event);
        return;
      case 'subscribed':
        this.subs.get(msg.sessionId)?.onSubscribed?.(msg.lastSeq);
        return;
      case 'error':
        if (msg.sessionId) this.subs.get(msg.sessionId)?.onError?.(msg.code, msg.message);
        return;
      default:
        return;
    }
  }
}

export const live = new Live();
