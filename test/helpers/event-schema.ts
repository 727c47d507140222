// Validates events as clients receive them (JSON page, SSE, WebSocket) against the schema declared
// for their type in src/protocol/event-types.ts.
import { z } from 'zod';
import { Event } from '../../src/protocol/index.ts';

/** `value` as an Event; throws, naming the channel, the issues and the event, when it does not match. */
export function validEvent(value: unknown, where: string): Event {
  const parsed = Event.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new Error(
    `${where}: event does not match the schema of its type\n${z.prettifyError(parsed.error)}\n${JSON.stringify(value).slice(0, 2_000)}`,
  );
}

/** Every value as an Event (see validEvent). */
export function validEvents(values: readonly unknown[], where: string): Event[] {
  return values.map((v, i) => validEvent(v, `${where}[${i}]`));
}
