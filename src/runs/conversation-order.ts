// The order of a session's conversation. Messages are stored as they arrive: a user's message when
// it is accepted (its run may wait in the queue), a run's turns when the run ends. Insertion order
// is therefore not the conversation's: a message sent while a run is active lands before that
// run's reply, and a steering message (`mode: "interrupt"`) runs before messages queued earlier.
// The conversation is the runs in the order they ENDED, each with its own turns in order, then the
// runs still running or queued (in the order they will run). Pure functions, no I/O.
import type { MessageRecord, RunRecord } from '../store/types.ts';

const ENDED = new Set(['completed', 'failed', 'cancelled']);

/** Sort key of a run: ended runs by end time, then running, then queued by (priority, queue order). */
function runKeys(runs: readonly RunRecord[]): Map<string, [number, string, number, number]> {
  const keys = new Map<string, [number, string, number, number]>();
  runs.forEach((r, i) => {
    if (ENDED.has(r.status)) keys.set(r.id, [0, r.completedAt ?? '', 0, i]);
    else if (r.status === 'running') keys.set(r.id, [1, '', 0, i]);
    else keys.set(r.id, [2, '', -r.priority, i]);
  });
  return keys;
}

function compare(a: readonly (number | string)[], b: readonly (number | string)[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return 0;
}

/**
 * The session's messages in conversation order. `runs` in queue order (Store.listRuns). Messages of
 * unknown runs (or none) keep their place at the start; a run's own turns keep their stored order.
 */
export function conversationOrder(
  messages: readonly MessageRecord[],
  runs: readonly RunRecord[],
): MessageRecord[] {
  const keys = runKeys(runs);
  const none: [number, string, number, number] = [-1, '', 0, 0];
  return messages
    .map((m, i) => ({ m, i, k: (m.runId && keys.get(m.runId)) || none }))
    .sort((a, b) => compare(a.k, b.k) || a.i - b.i)
    .map((x) => x.m);
}

/** The history a run sees: what the runs that ended before it said, in conversation order. */
export function historyBefore(
  messages: readonly MessageRecord[],
  runs: readonly RunRecord[],
  runId: string,
): MessageRecord[] {
  const ended = new Set(runs.filter((r) => ENDED.has(r.status) && r.id !== runId).map((r) => r.id));
  const known = new Set(runs.map((r) => r.id));
  return conversationOrder(messages, runs).filter(
    (m) => m.runId !== runId && (!m.runId || !known.has(m.runId) || ended.has(m.runId)),
  );
}
