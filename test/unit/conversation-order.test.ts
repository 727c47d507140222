// The conversation's order (src/runs/conversation-order.ts): runs in the order they ended, then
// the running one, then the queued ones in the order they will run — not the order messages were
// stored in (a message sent while a run is active is stored before that run's reply).
import { describe, expect, it } from 'vitest';
import { emptyUsage } from '../../src/protocol/index.ts';
import { conversationOrder, historyBefore } from '../../src/runs/conversation-order.ts';
import type { MessageRecord, RunRecord, RunStatus } from '../../src/store/types.ts';

const run = (id: string, status: RunStatus, completedAt?: string, priority = 3): RunRecord => ({
  id,
  sessionId: 's',
  status,
  input: id,
  priority,
  attempts: 1,
  cancelRequested: false,
  createdAt: '2030-01-01T00:00:00.000Z',
  usage: emptyUsage(),
  ...(completedAt ? { completedAt } : {}),
});
const msg = (id: string, runId: string | undefined, role: 'user' | 'assistant' = 'user'): MessageRecord => ({
  id,
  sessionId: 's',
  ...(runId ? { runId } : {}),
  role,
  text: id,
  createdAt: '2030-01-01T00:00:00.000Z',
});

describe('conversation order', () => {
  // r1 was interrupted by r3 (a steering message, queued last, ran second); r2 was queued before r3.
  const runs = [
    run('r1', 'cancelled', '2030-01-01T00:00:01.000Z'),
    run('r2', 'queued'),
    run('r3', 'completed', '2030-01-01T00:00:02.000Z', 4),
    run('r4', 'queued', undefined, 4),
  ];
  // stored in arrival order: every user message at accept time, replies when their run ended
  const stored = [
    msg('legacy', undefined),
    msg('u1', 'r1'),
    msg('u2', 'r2'),
    msg('u3', 'r3'),
    msg('a1', 'r1', 'assistant'),
    msg('a3', 'r3', 'assistant'),
    msg('u4', 'r4'),
  ];

  it('orders messages by when their run ended, then what still waits (highest priority first)', () => {
    expect(conversationOrder(stored, runs).map((m) => m.id)).toEqual([
      'legacy',
      'u1',
      'a1',
      'u3',
      'a3',
      'u4',
      'u2',
    ]);
  });

  it("a run's history: ended runs only, never its own messages nor those still queued", () => {
    expect(historyBefore(stored, runs, 'r2').map((m) => m.id)).toEqual(['legacy', 'u1', 'a1', 'u3', 'a3']);
    expect(historyBefore(stored, runs, 'r4').map((m) => m.id)).toEqual(['legacy', 'u1', 'a1', 'u3', 'a3']);
  });
});
