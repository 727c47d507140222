// WebSocket frames (docs/api.md §8).
import { z } from 'zod';
import { ApprovalDecision } from './approvals.ts';
import { MessageMode } from './sessions.ts';

export const WsClientMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('subscribe'),
    sessionId: z.string().min(1).max(64),
    after: z.number().int().nonnegative().optional(),
  }),
  z.object({ type: z.literal('unsubscribe'), sessionId: z.string().min(1).max(64) }),
  z.object({
    type: z.literal('message'),
    sessionId: z.string().min(1).max(64),
    content: z.string().min(1).max(200_000),
    idempotencyKey: z.string().min(1).max(128).optional(),
    mode: MessageMode.optional(),
  }),
  z.object({ type: z.literal('interrupt'), sessionId: z.string().min(1).max(64) }),
  z.object({
    type: z.literal('approve'),
    sessionId: z.string().min(1).max(64),
    approvalId: z.string().min(1).max(64),
    decision: ApprovalDecision,
    message: z.string().max(4_000).optional(),
  }),
  z.object({ type: z.literal('ping') }),
]);
export type WsClientMessage = z.infer<typeof WsClientMessage>;

export type WsServerMessage =
  | { type: 'subscribed'; sessionId: string; lastSeq: number }
  | { type: 'event'; event: import('./events.ts').Event }
  | { type: 'accepted'; sessionId: string; runId: string }
  | { type: 'interrupted'; sessionId: string; runId?: string }
  | { type: 'pong' }
  | { type: 'error'; code: string; message: string; sessionId?: string };
