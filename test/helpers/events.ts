// A session's event log over the JSON API, for tests that poll it instead of streaming it.
// Every event read here is validated against the schema of its type (src/protocol/event-types.ts).
import { validEvents } from './event-schema.ts';
import { api, json, waitFor } from './server.ts';

export type TestEvent = {
  seq: number;
  type: string;
  sessionId: string;
  runId?: string;
  data: Record<string, unknown>;
};

/** The session's events from the start (up to 1000), each checked against its schema. */
export async function allEvents(base: string, sessionId: string): Promise<TestEvent[]> {
  const { items } = await json<{ items: TestEvent[] }>(
    await api(base, 'GET', `/api/sessions/${sessionId}/events?after=0&limit=1000`),
  );
  validEvents(items, `events of ${sessionId}`);
  return items;
}

export const isRunEnd = (e: { type: string }): boolean =>
  e.type === 'run.completed' || e.type === 'run.failed';

/** Polls the session's events until a run has completed or failed; returns them all. */
export function waitForRunEnd(base: string, sessionId: string, timeoutMs = 30_000): Promise<TestEvent[]> {
  return waitFor(async () => {
    const evs = await allEvents(base, sessionId);
    return evs.some(isRunEnd) ? evs : undefined;
  }, timeoutMs);
}
