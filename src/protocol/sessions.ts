import { z } from '@hono/zod-openapi';
import { Branch, EngineName, Metadata, ModelId, RepoUrl, Usage } from './common.ts';
import { Policy } from './policy.ts';

/** `waiting`: its run is stopped at a tool call until an approval is decided (§10). */
export const SessionStatus = z.enum(['idle', 'queued', 'running', 'waiting']);
export type SessionStatus = z.infer<typeof SessionStatus>;

export const CreateSessionRequest = z
  .object({
    title: z.string().max(200).optional(),
    repoUrl: RepoUrl.optional(),
    branch: Branch.optional(),
    engine: EngineName.optional(),
    model: ModelId.optional(),
    systemPrompt: z.string().max(32_768).optional(),
    metadata: Metadata.optional(),
    policy: Policy.optional(),
  })
  .strict()
  .openapi('CreateSessionRequest');
export type CreateSessionRequest = z.infer<typeof CreateSessionRequest>;

export const Session = z
  .object({
    id: z.string(),
    title: z.string(),
    status: SessionStatus,
    engine: EngineName,
    model: z.string(),
    repoUrl: z.string().optional(),
    branch: z.string().optional(),
    lastSeq: z.number().int().nonnegative(),
    usage: Usage,
    metadata: z.record(z.string(), z.unknown()),
    policy: Policy.optional(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Session');
export type Session = z.infer<typeof Session>;

/** `queue` (default): runs after the session's earlier runs. `interrupt`: stops the active run and runs next (§10). */
export const MessageMode = z.enum(['queue', 'interrupt']);
export type MessageMode = z.infer<typeof MessageMode>;

export const SendMessageRequest = z
  .object({
    content: z.string().min(1).max(200_000),
    idempotencyKey: z.string().min(1).max(128).optional(),
    mode: MessageMode.optional(),
  })
  .strict()
  .openapi('SendMessageRequest');
export type SendMessageRequest = z.infer<typeof SendMessageRequest>;

export const MessageAccepted = z
  .object({ sessionId: z.string(), runId: z.string() })
  .openapi('MessageAccepted');

export const Message = z
  .object({
    id: z.string(),
    sessionId: z.string(),
    runId: z.string().optional(),
    role: z.enum(['user', 'assistant']),
    text: z.string(),
    createdAt: z.string(),
  })
  .openapi('Message');
export type Message = z.infer<typeof Message>;
