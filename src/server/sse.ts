// GET …/events: a JSON page, or a live SSE stream that replays from the store and then follows.
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { AppError } from '../errors.ts';
import type { Event } from '../protocol/index.ts';
import { followEvents } from '../runs/event-stream.ts';
import type { ServerDeps } from './deps.ts';

const HEARTBEAT_MS = 15_000;

export const eventsQuery = z.object({
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  follow: z.enum(['true', 'false', '1', '0']).optional(),
});
export type EventsQuery = z.infer<typeof eventsQuery>;

function lastEventId(c: Context): number | undefined {
  const raw = c.req.header('Last-Event-ID');
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,15}$/.test(raw))
    throw new AppError('invalid_request', 'Last-Event-ID must be a non-negative integer (an event seq)');
  return Number(raw);
}

export async function serveEvents(c: Context, deps: ServerDeps, sessionId: string, q: EventsQuery) {
  const after = lastEventId(c) ?? q.after ?? 0;
  const wantsStream =
    q.follow === 'true' || q.follow === '1' || (c.req.header('Accept') ?? '').includes('text/event-stream');
  if (!wantsStream) {
    return c.json(await deps.sessions.events(sessionId, after, q.limit), 200);
  }
  deps.metrics.sseStreams.inc();
  return streamSSE(c, async (stream) => {
    // Events are queued and written one at a time so a slow client never reorders them.
    const queue: Event[] = [];
    let wake: (() => void) | null = null;
    let failed: unknown = null;
    const follower = followEvents({
      store: deps.store,
      eventLog: deps.eventLog,
      sessionId,
      after,
      onEvent: (e) => {
        queue.push(e);
        wake?.();
      },
      onError: (err) => {
        failed = err;
        wake?.();
      },
    });
    const heartbeat = setInterval(() => {
      void stream.write(': keep-alive\n\n').catch(() => {});
    }, HEARTBEAT_MS);
    let closed = false;
    stream.onAbort(() => {
      closed = true;
      wake?.();
    });
    try {
      while (!closed && !failed) {
        const next = queue.shift();
        if (!next) {
          await new Promise<void>((r) => {
            wake = r;
          });
          wake = null;
          continue;
        }
        await stream.writeSSE({ id: String(next.seq), event: next.type, data: JSON.stringify(next) });
      }
      if (failed) deps.logger.warn('SSE stream ended by a store error', { sessionId, err: failed });
    } finally {
      clearInterval(heartbeat);
      follower.close();
      deps.metrics.sseStreams.dec();
    }
  });
}
