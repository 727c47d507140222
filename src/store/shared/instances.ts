// Row → InstanceRecord, shared by both dialects (timestamps arrive as ISO text or Date).
import type { InstanceRecord } from '../types.ts';
import type { Row } from './rows.ts';

function iso(v: unknown, col: string): string {
  if (typeof v === 'string') return v;
  if (v instanceof Date) return v.toISOString();
  throw new Error(`store: instances.${col} is ${v === null ? 'NULL' : typeof v}, expected a timestamp`);
}

export function toInstance(row: Row): InstanceRecord {
  return {
    id: String(row.id),
    version: String(row.version),
    startedAt: iso(row.started_at, 'started_at'),
    heartbeatAt: iso(row.heartbeat_at, 'heartbeat_at'),
    ...(row.stopped_at === null || row.stopped_at === undefined
      ? {}
      : { stoppedAt: iso(row.stopped_at, 'stopped_at') }),
  };
}
