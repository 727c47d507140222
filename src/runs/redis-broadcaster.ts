// Cross-instance live events over Redis pub/sub (multi-instance mode, `REDIS_URL`). Every instance
// publishes the events it stored (one message per event-log flush) on one channel and delivers what
// the others published to its local subscribers. Redis is only a fast path: events are stored in
// the shared database BEFORE they are published, and followers (src/runs/event-stream.ts) fill any
// gap from the store, so a lost message costs latency, never an event.
//
// Outages: both connections reconnect forever (capped back-off) and log one warning per outage.
// Publishing never queues while Redis is away (no unbounded offline queue); instead the latest
// event of each recently active session is kept (bounded) and re-published after a reconnect, and
// an instance whose subscription was re-established asks the others to do the same ("resync").
// A follower that receives such a tail event with a seq beyond its own fills the gap from the
// store, so a run that ended during the outage still reaches its subscribers.
//
// The same channel carries a work hint: an instance that queued a run it cannot start itself (no
// free slot, or draining) says so, and the others look at the queue at once instead of at their
// next poll. Only a hint: the run is in the store, and polling still finds it if the hint is lost.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.ts';
import type { Event } from '../protocol/index.ts';
import type { EventBroadcaster } from './event-log.ts';

export const DEFAULT_EVENTS_CHANNEL = 'agent:events';

interface Message {
  v: 1;
  /** Broadcaster id of the sender: an instance ignores its own messages. */
  from: string;
  events?: Event[];
  /** "Re-publish your latest events": sent after this instance's subscription was re-established. */
  resync?: boolean;
  /** "Queued work waits that I cannot start": the others claim from the store now. */
  work?: boolean;
}

/**
 * Work hints of one instance go out at most once per this many ms (the rest coalesce into one at
 * the end of the interval): under a sustained backlog every instance is full and each hint only
 * wakes schedulers that have nothing to claim with, so hints are kept to a few dozen a second.
 */
const WORK_HINT_INTERVAL_MS = 25;

interface Tail {
  event: Event;
  at: number;
  bytes: number;
}

export interface RedisBroadcasterOptions {
  url: string;
  logger: Logger;
  /** Shown in logs and used as the prefix of this broadcaster's id (made unique per process). */
  instanceId: string;
  channel?: string;
  /** Longest pause between reconnect attempts (ms). */
  maxRetryDelayMs?: number;
  /** How long a session's latest event is kept for re-publication after an outage (ms). */
  tailTtlMs?: number;
  /** Upper bounds of the kept latest events (count and approximate JSON bytes). */
  tailMaxSessions?: number;
  tailMaxBytes?: number;
  /** Events per re-published message. */
  republishBatch?: number;
}

type Conn = 'publisher' | 'subscriber';

export class RedisBroadcaster implements EventBroadcaster {
  readonly id: string;
  readonly channel: string;
  private pub: Redis;
  private sub: Redis;
  private logger: Logger;
  private listeners: Array<(events: Event[]) => void> = [];
  private workListeners: Array<() => void> = [];
  private workHintAt = Number.NEGATIVE_INFINITY;
  private workHintTimer: NodeJS.Timeout | undefined;
  /** sessionId → the latest event published for it; Map order = least recently published first. */
  private tails = new Map<string, Tail>();
  private tailBytes = 0;
  private tailTtlMs: number;
  private tailMaxSessions: number;
  private tailMaxBytes: number;
  private republishBatch: number;
  private closed = false;
  private up: Record<Conn, boolean> = { publisher: false, subscriber: false };
  /** Whether the connection was ever ready (a later `ready` is a reconnect). */
  private seen: Record<Conn, boolean> = { publisher: false, subscriber: false };
  /** Whether the current outage of a connection was already reported. */
  private warned: Record<Conn, boolean> = { publisher: false, subscriber: false };
  private publishFailedSinceReady = false;
  private resyncWanted = false;
  private republishTimer: NodeJS.Timeout | undefined;
  private firstSubscribe: Promise<void>;
  private resolveFirstSubscribe!: () => void;
  /** Counters (tests and diagnostics). */
  readonly stats = {
    published: 0,
    publishFailures: 0,
    received: 0,
    republished: 0,
    resyncRequests: 0,
    workHintsSent: 0,
    workHintsReceived: 0,
    /** own messages coming back on the channel, dropped unparsed */
    ownIgnored: 0,
  };
  /** How every message this broadcaster sends begins (send() stringifies `v` and `from` first). */
  private ownPrefix: Buffer;

  constructor(opts: RedisBroadcasterOptions) {
    this.id = `${opts.instanceId}:${randomUUID().slice(0, 8)}`;
    this.ownPrefix = Buffer.from(`{"v":1,"from":${JSON.stringify(this.id)},`);
    this.channel = opts.channel ?? DEFAULT_EVENTS_CHANNEL;
    this.logger = opts.logger.child({ component: 'redis-broadcaster' });
    this.tailTtlMs = opts.tailTtlMs ?? 10 * 60_000;
    this.tailMaxSessions = opts.tailMaxSessions ?? 5_000;
    this.tailMaxBytes = opts.tailMaxBytes ?? 16 * 1024 * 1024;
    this.republishBatch = opts.republishBatch ?? 200;
    this.firstSubscribe = new Promise((r) => {
      this.resolveFirstSubscribe = r;
    });
    const maxDelay = opts.maxRetryDelayMs ?? 2_000;
    const common = {
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
      connectTimeout: 5_000,
      connectionName: `agent-events-${this.id}`,
      disableClientInfo: true,
    };
    // Publisher: fail fast while disconnected (a lost publish is healed; a queue would only grow).
    this.pub = new Redis(opts.url, { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    // Subscriber: (re)subscribes explicitly on every `ready`, so a re-subscription is observable.
    this.sub = new Redis(opts.url, { ...common, autoResubscribe: false, maxRetriesPerRequest: null });
    this.watch(this.pub, 'publisher', () => this.onPublisherReady());
    this.watch(this.sub, 'subscriber', () => this.onSubscriberReady());
    this.sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.onMessage(message));
  }

  /** Resolves once the subscription is live, or after `timeoutMs` (false then; it keeps trying). */
  async ready(timeoutMs = 5_000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      this.firstSubscribe.then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), timeoutMs);
      }),
    ]);
    if (timer) clearTimeout(timer);
    return ok;
  }

  /** Connection state for health output. */
  status(): { publisher: boolean; subscriber: boolean } {
    return { publisher: this.up.publisher, subscriber: this.up.subscriber };
  }

  publish(events: Event[]): void {
    if (this.closed || events.length === 0) return;
    this.remember(events);
    this.send({ v: 1, from: this.id, events }, events.length);
  }

  onRemote(listener: (events: Event[]) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Tells the other instances that a queued run waits which this one cannot start. A burst costs
   * one message at once and at most one more per WORK_HINT_INTERVAL_MS: a woken instance claims
   * until its slots or the queue run out, so one hint covers every run queued before it.
   */
  announceWork(): void {
    if (this.closed || this.workHintTimer) return;
    const wait = this.workHintAt + WORK_HINT_INTERVAL_MS - performance.now();
    if (wait <= 0) {
      this.sendWorkHint();
      return;
    }
    this.workHintTimer = setTimeout(() => {
      this.workHintTimer = undefined;
      this.sendWorkHint();
    }, wait);
    this.workHintTimer.unref();
  }

  /** Called when another instance announces work it cannot start. */
  onWork(listener: () => void): void {
    this.workListeners.push(listener);
  }

  private sendWorkHint(): void {
    if (this.closed || !this.up.publisher) return; // polling finds the run meanwhile
    this.workHintAt = performance.now();
    this.stats.workHintsSent += 1;
    this.send({ v: 1, from: this.id, work: true }, 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.republishTimer) clearTimeout(this.republishTimer);
    if (this.workHintTimer) clearTimeout(this.workHintTimer);
    await Promise.all([closeConn(this.pub), closeConn(this.sub)]);
  }

  private watch(conn: Redis, name: Conn, onReady: () => void): void {
    // ioredis reports every failed reconnect attempt: one warning per outage, the rest at debug.
    conn.on('error', (err: Error) => {
      if (this.closed) return;
      if (this.warned[name])
        this.logger.debug('redis reconnect failed', { connection: name, err: err.message });
      else {
        this.warned[name] = true;
        this.logger.warn(
          'redis connection error; live events from other instances are delayed until it is back',
          {
            connection: name,
            err: err.message,
          },
        );
      }
      this.up[name] = false;
    });
    conn.on('close', () => {
      if (this.closed || !this.up[name]) return;
      this.up[name] = false;
      if (!this.warned[name]) {
        this.warned[name] = true;
        this.logger.warn('redis connection lost; reconnecting', { connection: name });
      }
    });
    conn.on('ready', () => {
      if (this.closed) return;
      if (this.seen[name]) this.logger.info('redis connection restored', { connection: name });
      this.up[name] = true;
      this.warned[name] = false;
      onReady();
      this.seen[name] = true;
    });
  }

  private onPublisherReady(): void {
    if (this.resyncWanted) {
      this.resyncWanted = false;
      this.requestResync();
    }
    // Whatever failed to go out while we were away: re-send the latest event of each session.
    if (this.publishFailedSinceReady) {
      this.publishFailedSinceReady = false;
      this.scheduleRepublish(0);
    }
  }

  private onSubscriberReady(): void {
    const reconnect = this.seen.subscriber;
    this.sub.subscribe(this.channel).then(
      () => {
        if (this.closed) return;
        this.resolveFirstSubscribe();
        if (!reconnect) return;
        // Messages published while we were not subscribed are lost: ask the others for their tails.
        // Their requests may also have gone unheard meanwhile: re-publish ours too. (Whichever
        // instance subscribes last is heard by all the others, so every pair is covered.)
        this.requestResync();
        this.scheduleRepublish(100);
      },
      (err: unknown) => {
        if (!this.closed)
          this.logger.warn('redis subscribe failed', {
            err: err instanceof Error ? err.message : String(err),
          });
      },
    );
  }

  private requestResync(): void {
    if (!this.up.publisher) {
      this.resyncWanted = true;
      return;
    }
    this.send({ v: 1, from: this.id, resync: true }, 0);
  }

  private onMessage(raw: Buffer): void {
    if (this.closed) return;
    // Our own messages come back too: drop them before parsing (a whole event batch, every flush).
    if (raw.length > this.ownPrefix.length && raw.subarray(0, this.ownPrefix.length).equals(this.ownPrefix)) {
      this.stats.ownIgnored += 1;
      return;
    }
    let msg: Message;
    try {
      msg = JSON.parse(raw.toString('utf8')) as Message;
    } catch {
      this.logger.warn('ignored malformed message on the events channel');
      return;
    }
    if (msg?.v !== 1 || typeof msg.from !== 'string' || msg.from === this.id) return;
    if (msg.resync) {
      this.stats.resyncRequests += 1;
      this.scheduleRepublish(100); // coalesces the requests of several instances reconnecting at once
      return;
    }
    if (msg.work) {
      this.stats.workHintsReceived += 1;
      for (const l of this.workListeners) {
        try {
          l();
        } catch (err) {
          this.logger.warn('work hint listener failed', { err });
        }
      }
      return;
    }
    if (!Array.isArray(msg.events)) return;
    const events = msg.events.filter(
      (e): e is Event =>
        typeof e === 'object' && e !== null && typeof e.sessionId === 'string' && Number.isInteger(e.seq),
    );
    if (events.length === 0) return;
    this.stats.received += events.length;
    for (const l of this.listeners) {
      try {
        l(events);
      } catch (err) {
        this.logger.warn('remote event listener failed', { err });
      }
    }
  }

  private send(msg: Message, count: number): void {
    let payload: string;
    try {
      payload = JSON.stringify(msg);
    } catch (err) {
      this.logger.warn('could not serialize events for publication', { err });
      return;
    }
    this.pub.publish(this.channel, payload).then(
      () => {
        this.stats.published += count;
      },
      (err: unknown) => {
        this.stats.publishFailures += 1;
        if (msg.work) return; // a lost hint costs one poll interval, nothing to re-send
        if (!this.publishFailedSinceReady && !this.closed) {
          this.logger.warn('redis publish failed; subscribers on other instances catch up from the store', {
            err: err instanceof Error ? err.message : String(err),
          });
        }
        this.publishFailedSinceReady = true;
        if (msg.resync) this.resyncWanted = true;
        // Failed while connected (e.g. the connection dropped mid-command): retry the tails soon.
        if (this.up.publisher) this.scheduleRepublish(500);
      },
    );
  }

  /** Keeps the latest event of each session in this batch (bounded by count, bytes and age). */
  private remember(events: Event[]): void {
    const now = Date.now();
    const done = new Set<string>();
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]!;
      if (done.has(e.sessionId)) continue;
      done.add(e.sessionId);
      const old = this.tails.get(e.sessionId);
      if (old) {
        this.tailBytes -= old.bytes;
        this.tails.delete(e.sessionId);
      }
      const bytes = approxBytes(e);
      this.tails.set(e.sessionId, { event: e, at: now, bytes });
      this.tailBytes += bytes;
    }
    this.prune(now);
  }

  private prune(now: number): void {
    for (const [sid, t] of this.tails) {
      const over = this.tails.size > this.tailMaxSessions || this.tailBytes > this.tailMaxBytes;
      if (!over && now - t.at <= this.tailTtlMs) break; // oldest first: the rest is newer
      this.tails.delete(sid);
      this.tailBytes -= t.bytes;
    }
  }

  private scheduleRepublish(delayMs: number): void {
    if (this.closed || this.republishTimer) return;
    this.republishTimer = setTimeout(() => {
      this.republishTimer = undefined;
      this.republish();
    }, delayMs);
    this.republishTimer.unref();
  }

  private republish(): void {
    if (this.closed) return;
    if (!this.up.publisher) {
      this.publishFailedSinceReady = true; // goes out when the publisher is ready again
      return;
    }
    this.prune(Date.now());
    const events = [...this.tails.values()].map((t) => t.event);
    if (events.length === 0) return;
    this.stats.republished += events.length;
    this.logger.debug('re-publishing the latest events after an outage', { sessions: events.length });
    for (let i = 0; i < events.length; i += this.republishBatch) {
      const chunk = events.slice(i, i + this.republishBatch);
      this.send({ v: 1, from: this.id, events: chunk }, chunk.length);
    }
  }
}

function approxBytes(e: Event): number {
  let n = 200;
  for (const v of Object.values(e.data)) n += typeof v === 'string' ? v.length : 64;
  return n;
}

async function closeConn(conn: Redis): Promise<void> {
  if (conn.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      conn.quit().catch(() => undefined),
      new Promise((r) => {
        timer = setTimeout(r, 1_000);
      }),
    ]);
    if (timer) clearTimeout(timer);
  }
  conn.disconnect();
}
