// Events: the one stream every client reads. Stored with a per-session gap-free `seq`
// before they are published (docs/api.md §7). Everything here is derived from the declarations in
// ./event-types.ts; nothing about a particular event type is written in this file.
import { z } from '@hono/zod-openapi';
import { type EventDeclaration, type EventType, eventTypes } from './event-types.ts';
import { literalKeys } from './keys.ts';

export { type EventDeclaration, type EventType, eventTypes } from './event-types.ts';

/** Every declared event type, in declaration order. */
export const eventTypeNames = literalKeys(eventTypes);
/** The name of an event type, as a schema (e.g. a workflow's `notify` list). */
export const EventTypeName = z.enum(eventTypeNames).openapi('EventType');

/** The `data` of an event of type K. */
export type EventData<K extends EventType> = z.output<(typeof eventTypes)[K]['data']>;

/** What an emitter hands to EventLog.append/emit: a wrong `data` for its `type` does not compile. */
export type NewEvent = { [K in EventType]: { runId?: string; type: K; data: EventData<K> } }[EventType];

/** `run.queued` → `RunQueuedEvent`: the OpenAPI component name of an event type. */
export function eventComponentName(type: EventType): string {
  return `${type
    .split(/[._]/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')}Event`;
}

/** The stored event of one type: the envelope every event shares, around that type's `data`. */
function envelope<K extends EventType, D extends z.ZodObject>(type: K, data: D) {
  return z
    .object({
      seq: z.number().int().positive(),
      sessionId: z.string(),
      runId: z.string().optional(),
      type: z.literal(type),
      ts: z.string(),
      data,
    })
    .strict()
    .openapi(eventComponentName(type));
}

type Envelope = {
  [K in EventType]: ReturnType<typeof envelope<K, (typeof eventTypes)[K]['data']>>;
}[EventType];

// `map` over the key tuple yields envelope<EventType> (one schema whose `type` is the whole union),
// which TypeScript cannot relate to the per-type union `Envelope` it is at run time (each element
// was built for one literal K). The cast restores that per-type view so z.discriminatedUnion
// infers the discriminated Event type.
const variants = eventTypeNames.map((t) => envelope(t, eventTypes[t].data)) as [Envelope, ...Envelope[]];

/** A stored event: `oneOf` the per-type schemas, discriminated by `type` (OpenAPI: `Event`). */
export const Event = z.discriminatedUnion('type', variants).openapi('Event');
export type Event = z.infer<typeof Event>;

/** The stored event of one type, e.g. `EventOf<'run.failed'>`. */
export type EventOf<K extends EventType> = Extract<Event, { type: K }>;

export const EventPage = z
  .object({ items: z.array(Event), lastSeq: z.number().int().nonnegative() })
  .openapi('EventPage');

const declarationOf = (type: EventType): EventDeclaration => eventTypes[type];

export const COALESCIBLE: ReadonlySet<EventType> = new Set(
  eventTypeNames.filter((t) => declarationOf(t).coalesce === true),
);
