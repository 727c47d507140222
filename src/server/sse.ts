// GET …/events: a JSON page, or a live SSE stream that replays from the store and then follows.
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { AppError } from '../errors.ts';
import { EventPage } from '../protocol/index.ts';
import { followEvents } from '../runs/event-stream.ts';
import type { ServerDeps } from './deps.ts';

const HEARTBEAT_MS = 15_000;

export const eventsQuery = z.object({
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  follow: z.enum(['true', 'false', '1', '0']).optional(),
});
export type EventsQuery = z.infer<typeof eventsQuery>;

/** The 200 answer of every …/events route: an EventPage, or SSE frames each carrying one Event. */
export const eventsResponse = (description: string) => ({
  description,
  content: {
    'application/json': { schema: EventPage },
    'text/event-stream': {
      schema: z.string().openapi({
        description:
          'SSE frames: `id:` = seq, `event:` = type, `data:` = one Event as JSON (see the Event schema)',
      }),
    },
  },
});

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
    // Each event is written before the follower delivers the next (or reads the next page): a
    // client that does not read holds up its own stream, not the server's memory.
    let finished: () => void = () => {};
    const done = new Promise<void>((r) => {
      finished = r;
    });
    let failed: unknown = null;
    let writing = false;
    const follower = followEvents({
      store: deps.store,
      eventLog: deps.eventLog,
      sessionId,
      after,
      onEvent: async (e) => {
        writing = true;
        try {
          await stream.writeSSE({ id: String(e.seq), event: e.type, data: JSON.stringify(e) });
        } finally {
          writing = false;
        }
        if (stream.aborted) finished();
      },
      onError: (err) => {
        failed = err;
        finished();
      },
    });
    // A comment now and then keeps proxies from closing an idle stream; skipped while a write is
    // pending (the connection is evidently not idle, and the comments would queue up).
    let beating = false;
    const heartbeat = setInterval(() => {
      if (writing || beating) return;
      beating = true;
      void stream.write(': keep-alive\n\n').finally(() => {
        beating = false;
      });
    }, HEARTBEAT_MS);
    stream.onAbort(() => finished());
    try {
      await done;
      if (failed) deps.logger.warn('SSE stream ended by an error', { sessionId, err: failed });
    } finally {
      clearInterval(heartbeat);
      follower.close();
      deps.metrics.sseStreams.dec();
    }
  });
}
