// The event log merges consecutive deltas of one stream while they wait for the store (docs/api.md §7
// allows coalescing): text.delta of one run, tool.output of one tool call and stream. Nothing
// else merges, and the events handed in are not changed.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.ts';
import type { NewEvent } from '../../src/protocol/index.ts';
import { EventLog } from '../../src/runs/event-log.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { validEvents } from '../helpers/event-schema.ts';
import { newSession } from '../store/fixtures/records.ts';

const SID = 'ses_coalesce';
let dir: string;
let store: SqliteStore;
let log: EventLog;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'coalesce-'));
  store = new SqliteStore(path.join(dir, 'agent.db'));
  await store.migrate();
  await store.createSession(newSession(SID));
  log = new EventLog({ store, logger: silentLogger });
});
afterEach(async () => {
  await log.flush();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** Emits `events` in one turn of the event loop (so they wait together), then the stored result. */
async function storedAfter(events: NewEvent[]) {
  for (const e of events) log.emit(SID, e);
  await log.flush();
  return validEvents(await store.listEvents(SID, 0, 100), 'stored').map(({ runId, type, data }) =>
    runId === undefined ? { type, data } : { runId, type, data },
  );
}

const delta = (text: string, runId = 'r1'): NewEvent => ({ runId, type: 'text.delta', data: { text } });
const out = (chunk: string, toolUseId = 't1', stream: 'stdout' | 'stderr' = 'stdout'): NewEvent => ({
  runId: 'r1',
  type: 'tool.output',
  data: { toolUseId, stream, chunk },
});

describe('EventLog coalescing', () => {
  it('merges consecutive text deltas of a run into one event', async () => {
    expect(await storedAfter([delta('a'), delta('b'), delta('c')])).toEqual([
      { runId: 'r1', type: 'text.delta', data: { text: 'abc' } },
    ]);
  });

  it('merges tool output of one call and stream, and nothing across calls, streams or runs', async () => {
    expect(
      await storedAfter([
        out('1'),
        out('2'),
        out('e', 't1', 'stderr'),
        out('x', 't2'),
        delta('d1', 'r1'),
        delta('d2', 'r2'),
      ]),
    ).toEqual([
      { runId: 'r1', type: 'tool.output', data: { toolUseId: 't1', stream: 'stdout', chunk: '12' } },
      { runId: 'r1', type: 'tool.output', data: { toolUseId: 't1', stream: 'stderr', chunk: 'e' } },
      { runId: 'r1', type: 'tool.output', data: { toolUseId: 't2', stream: 'stdout', chunk: 'x' } },
      { runId: 'r1', type: 'text.delta', data: { text: 'd1' } },
      { runId: 'r2', type: 'text.delta', data: { text: 'd2' } },
    ]);
  });

  it('does not merge across another event, nor past 64 KiB', async () => {
    const big = 'x'.repeat(64 * 1024);
    const stored = await storedAfter([
      delta('a'),
      { runId: 'r1', type: 'session.notice', data: { message: 'between' } },
      delta('b'),
      delta(big),
      delta('c'),
    ]);
    expect(stored.map((e) => e.type)).toEqual(['text.delta', 'session.notice', 'text.delta', 'text.delta']);
    expect(stored[2]!.data).toEqual({ text: `b${big}` });
    expect(stored[3]!.data).toEqual({ text: 'c' });
  });

  it('leaves the events handed in unchanged, and resolves every append with the merged event', async () => {
    const first = delta('a');
    const second = delta('b');
    const [p1, p2] = [log.append(SID, first), log.append(SID, second)];
    const [e1, e2] = await Promise.all([p1, p2]);
    expect(first).toEqual(delta('a'));
    expect(second).toEqual(delta('b'));
    expect(e1).toEqual(e2);
    expect(e1).toMatchObject({ seq: 1, type: 'text.delta', data: { text: 'ab' } });
  });
});
