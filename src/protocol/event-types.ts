// Every event type the server emits or has declared: its name, the zod schema of its `data`, and
// one line for docs/api.md. This table is the single source: the TypeScript types of
// EventLog.append/emit, the Event schema of /openapi.json, the validation helper of the tests and
// the event table of docs/api.md (scripts/gen-event-docs.ts) are all derived from it.
//
// Adding an event type = one entry here + its emitter (then `npm run docs:events`).
// Payloads the server emits are strict objects: a field added or renamed at an emitter without a
// change here fails to compile, and fails the schema tests if it slips past the types.
import { z } from '@hono/zod-openapi';
import { EngineName, Usage } from './common.ts';
import { RunFailure } from './failure-codes.ts';
import { WorkflowStatus } from './workflow-enums.ts';

export interface EventDeclaration {
  /** Schema of the event's `data`. */
  data: z.ZodObject;
  /** One line for the event table of docs/api.md. */
  doc: string;
  /** Consecutive events of this type (same run, same stream) may be merged before they are stored. */
  coalesce?: true;
}

const ToolUseId = z.string().min(1);

export const eventTypes = {
  'message.user': {
    data: z.object({ text: z.string() }).strict(),
    doc: "the user's message (a workflow's instructions) that queued the run",
  },
  'run.queued': {
    data: z
      .object({
        attempt: z.number().int().positive(),
        reason: z.enum(['drain', 'worker_lost']).optional(),
      })
      .strict(),
    doc: 'the run waits for an instance; `reason` when re-queued: `drain` (a server shutdown stopped it), `worker_lost` (its instance died)',
  },
  'run.started': {
    data: z.object({ attempt: z.number().int().positive(), engine: EngineName, model: z.string() }).strict(),
    doc: 'an instance claimed the run and its engine starts',
  },
  'text.delta': {
    data: z.object({ text: z.string() }).strict(),
    doc: 'streamed assistant text; coalesced: consecutive deltas are merged while they wait for the store',
    coalesce: true,
  },
  'message.assistant': {
    data: z.object({ text: z.string() }).strict(),
    doc: 'one per assistant turn with text',
  },
  'tool.started': {
    data: z.object({ toolUseId: ToolUseId, name: z.string(), input: z.unknown() }).strict(),
    doc: 'the agent called a tool',
  },
  'tool.output': {
    data: z
      .object({ toolUseId: ToolUseId, stream: z.enum(['stdout', 'stderr']), chunk: z.string() })
      .strict(),
    doc: 'streamed tool output, capped per call and per run; coalesced like `text.delta`',
    coalesce: true,
  },
  'tool.completed': {
    data: z
      .object({
        toolUseId: ToolUseId,
        name: z.string(),
        isError: z.boolean(),
        output: z.string(),
        durationMs: z.number().int().nonnegative(),
      })
      .strict(),
    doc: "the tool's result as the model sees it; output capped, head and tail kept",
  },
  'run.completed': {
    data: z.object({ stopReason: z.string(), usage: Usage }).strict(),
    doc: 'the run ended normally (`stopReason` e.g. `end_turn`, `max_turns`)',
  },
  'run.failed': {
    data: z.object({ error: RunFailure }).strict(),
    doc: '`error.code` is a failure code (below)',
  },
  'run.cancelled': {
    data: z.object({ reason: z.string().optional() }).strict(),
    doc: 'interrupted or cancelled; `reason` when it was cancelled before it started',
  },
  'workflow.status': {
    data: z.object({ status: WorkflowStatus, workflowId: z.string() }).strict(),
    doc: "the workflow's status changed",
  },
  'session.notice': {
    data: z.object({ message: z.string() }).strict(),
    doc: 'for humans: LLM retries, re-queue after a shutdown, waiting for a Claude Code slot, a re-created workspace',
  },
  'approval.requested': {
    data: z
      .object({
        approvalId: z.string(),
        toolUseId: ToolUseId,
        name: z.string(),
        input: z.unknown(),
        rule: z.string(),
        expiresAt: z.string(),
      })
      .strict(),
    doc: 'a tool call a `policy.approve` rule matched waits for a decision until `expiresAt`; the session is `waiting` meanwhile',
  },
  'approval.resolved': {
    data: z
      .object({
        approvalId: z.string(),
        decision: z.enum(['allow', 'deny']),
        by: z.enum(['user', 'timeout', 'cancel', 'restart']),
        message: z.string().optional(),
      })
      .strict(),
    doc: 'the decision on an approval request: by a person, the timeout, a cancel/interrupt/delete or a restart; `deny` gives the model a tool error',
  },
} as const satisfies Record<string, EventDeclaration>;

export type EventType = keyof typeof eventTypes;
