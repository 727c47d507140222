// Events: the one stream every client reads. Stored with a per-session gap-free `seq`
// before they are published (CONTRACT §7).
import { z } from '@hono/zod-openapi';
import type { Usage } from './common.ts';

export const EventType = z.enum([
  'run.queued',
  'run.started',
  'message.user',
  'text.delta',
  'message.assistant',
  'tool.started',
  'tool.output',
  'tool.completed',
  'run.completed',
  'run.failed',
  'run.cancelled',
  'workflow.status',
  'session.notice',
]);
export type EventType = z.infer<typeof EventType>;

export const Event = z
  .object({
    seq: z.number().int().positive(),
    sessionId: z.string(),
    runId: z.string().optional(),
    type: EventType,
    ts: z.string(),
    data: z.record(z.string(), z.unknown()),
  })
  .openapi('Event');
export type Event = z.infer<typeof Event>;

export const EventPage = z
  .object({ items: z.array(Event), lastSeq: z.number().int().nonnegative() })
  .openapi('EventPage');

/** Typed payloads of the event types (documentation + producers' type safety). */
export interface EventDataMap {
  'run.queued': { position?: number; attempt?: number };
  'run.started': { attempt: number; engine: string; model: string };
  'message.user': { text: string };
  'text.delta': { text: string };
  'message.assistant': { text: string };
  'tool.started': { toolUseId: string; name: string; input: unknown };
  'tool.output': { toolUseId: string; stream: 'stdout' | 'stderr'; chunk: string };
  'tool.completed': { toolUseId: string; name: string; isError: boolean; output: string; durationMs: number };
  'run.completed': { stopReason: string; usage: Usage };
  'run.failed': { error: { code: string; message: string } };
  'run.cancelled': { reason?: string };
  'workflow.status': { status: string; workflowId: string };
  'session.notice': { message: string };
}

export type EventInput = {
  [K in EventType]: { type: K; runId?: string; data: EventDataMap[K] };
}[EventType];

export const COALESCIBLE: ReadonlySet<EventType> = new Set(['text.delta', 'tool.output']);
