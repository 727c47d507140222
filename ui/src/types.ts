// The wire types, straight from the server's schemas (type-only: nothing of zod is bundled).
export type {
  Approval,
  Event,
  EventOf,
  EventType,
  Message,
  Session,
  Usage,
  Workflow,
  WsServerMessage,
  WsTicket,
} from '../../src/protocol/index.ts';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface AuditRecord {
  id: number;
  ts: string;
  actor: string;
  action: string;
  target?: string;
  outcome: 'ok' | 'error' | 'denied';
  details: Record<string, unknown>;
}
