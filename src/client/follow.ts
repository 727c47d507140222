// Following a session's (or workflow's) events over SSE (docs/api.md §7), resuming after a dropped
// connection from the last `seq` seen, so the caller gets every event once, in order.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Event } from '../protocol/index.ts';

export interface FollowOptions {
  /** `…/sessions/<id>/events` or `…/workflows/<id>/events`, absolute. */
  url: string;
  /** Headers of each (re)connection: auth. Called per attempt (signed requests need a fresh nonce). */
  headers: (url: string) => Record<string, string>;
  after?: number;
  /** Return `false` to stop following. */
  onEvent: (event: Event) => boolean | undefined | Promise<boolean | undefined>;
  signal?: AbortSignal;
  /** Reconnection attempts after a drop before giving up (default 5); reset by every event. */
  retries?: number;
  fetch?: typeof fetch;
}

/** Follows until `onEvent` returns false, the signal aborts, or reconnecting fails. Returns the last seq. */
export async function followEventStream(o: FollowOptions): Promise<number> {
  const fetchFn = o.fetch ?? fetch;
  let after = o.after ?? 0;
  let failures = 0;
  const retries = o.retries ?? 5;
  for (;;) {
    if (o.signal?.aborted) return after;
    const url = `${o.url}${o.url.includes('?') ? '&' : '?'}follow=true&after=${after}`;
    let res: Response;
    try {
      res = await fetchFn(url, {
        headers: { Accept: 'text/event-stream', ...o.headers(url) },
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (err) {
      if (o.signal?.aborted) return after;
      if (++failures > retries) throw err;
      await backoff(failures, o.signal);
      continue;
    }
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      throw new Error(`HTTP ${res.status} following events: ${text.slice(0, 300)}`);
    }
    let stop = false;
    const queue: Event[] = [];
    const parser = createParser({
      onEvent(m: EventSourceMessage) {
        queue.push(JSON.parse(m.data) as Event);
      },
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
        while (queue.length > 0) {
          const ev = queue.shift()!;
          if (ev.seq <= after) continue; // already delivered before a reconnection
          after = ev.seq;
          failures = 0;
          if ((await o.onEvent(ev)) === false) {
            stop = true;
            break;
          }
        }
        if (stop) break;
      }
    } catch (err) {
      if (o.signal?.aborted) return after;
      if (++failures > retries) throw err;
    } finally {
      if (stop) await res.body.cancel().catch(() => {});
    }
    if (stop) return after;
    // The server closed the stream (restart, proxy timeout): resume from the last seq.
    await backoff(Math.max(1, failures), o.signal);
  }
}

function backoff(n: number, signal?: AbortSignal): Promise<void> {
  const ms = Math.min(5_000, 200 * 2 ** (n - 1));
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
