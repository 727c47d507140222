// The event declarations as types and values: a payload that does not match its type's schema does
// not compile (the @ts-expect-error lines fail `npm run typecheck` if it ever does), and the
// schemas refuse at run time what the types refuse at compile time.
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../src/agent/engine.ts';
import {
  COALESCIBLE,
  Event,
  type EventOf,
  eventComponentName,
  eventTypeNames,
  type NewEvent,
  RunFailureCode,
} from '../../src/protocol/index.ts';

// Compile-time checks: each line must be a type error.
const wrongPayloads: NewEvent[] = [
  // @ts-expect-error run.queued has no field `position`
  { type: 'run.queued', data: { attempt: 1, position: 3 } },
  // @ts-expect-error run.started needs engine and model
  { type: 'run.started', data: { attempt: 1 } },
  // @ts-expect-error tool.output streams are stdout or stderr
  { type: 'tool.output', data: { toolUseId: 't', stream: 'stdin', chunk: '' } },
  // @ts-expect-error run.failed codes are RunFailureCode
  { type: 'run.failed', data: { error: { code: 'boom', message: 'x' } } },
  // @ts-expect-error an undeclared type
  { type: 'session.renamed', data: {} },
];
// @ts-expect-error EngineError takes a RunFailureCode
const wrongCode = () => new EngineError('boom', 'x');

const stored = (e: NewEvent): unknown => ({ seq: 1, sessionId: 's', ts: '2030-01-01T00:00:00.000Z', ...e });

describe('event declarations', () => {
  it('the schemas refuse what the types refuse', () => {
    for (const e of wrongPayloads) expect(Event.safeParse(stored(e)).success, JSON.stringify(e)).toBe(false);
    expect(RunFailureCode.safeParse('boom').success).toBe(false);
    expect(wrongCode).toBeTypeOf('function');
  });

  it('accept what the server emits, optional fields included', () => {
    const ok: NewEvent[] = [
      { type: 'run.queued', data: { attempt: 2, reason: 'drain' } },
      { type: 'run.cancelled', data: {} },
      { type: 'tool.started', data: { toolUseId: 't', name: 'bash', input: { command: 'ls' } } },
      { type: 'run.failed', data: { error: { code: 'timeout', message: 'too long' } } },
    ];
    for (const e of ok) expect(Event.safeParse(stored(e)).error).toBeUndefined();
  });

  it('an Event narrows by type', () => {
    const e = Event.parse(stored({ type: 'run.failed', data: { error: { code: 'aborted', message: 'm' } } }));
    const failed: EventOf<'run.failed'> | undefined = e.type === 'run.failed' ? e : undefined;
    expect(failed?.data.error.code).toBe('aborted');
  });

  it('coalescing is declared per type; component names follow the type', () => {
    expect([...COALESCIBLE].sort()).toEqual(['text.delta', 'tool.output']);
    expect(eventComponentName('run.queued')).toBe('RunQueuedEvent');
    expect(new Set(eventTypeNames.map(eventComponentName)).size).toBe(eventTypeNames.length);
  });
});
