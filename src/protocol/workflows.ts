import { z } from '@hono/zod-openapi';
import { Branch, EngineName, Metadata, ModelId, RepoUrl, Usage } from './common.ts';
import { EventTypeName } from './events.ts';
import { RunFailure } from './failure-codes.ts';
import { Policy } from './policy.ts';
import { Priority, WorkflowStatus, WorkflowType } from './workflow-enums.ts';

export { Priority, WorkflowStatus, WorkflowType } from './workflow-enums.ts';

export const CreateWorkflowRequest = z
  .object({
    type: WorkflowType,
    instructions: z.string().min(1).max(100_000),
    repoUrl: RepoUrl.optional(),
    branch: Branch.optional(),
    priority: Priority.optional(),
    engine: EngineName.optional(),
    model: ModelId.optional(),
    callbackUrl: z.string().url().max(2048).optional(),
    idempotencyKey: z.string().min(1).max(128).optional(),
    timeoutMs: z
      .number()
      .int()
      .min(1_000)
      .max(7 * 24 * 3600_000)
      .optional(),
    payload: Metadata.optional(),
    metadata: Metadata.optional(),
    policy: Policy.optional(),
    /** Event types also POSTed to callbackUrl as they happen (`X-Callback-Kind: event`), §10. */
    notify: z.array(EventTypeName).max(32).optional(),
  })
  .strict()
  .openapi('CreateWorkflowRequest');
export type CreateWorkflowRequest = z.infer<typeof CreateWorkflowRequest>;

export const WorkflowResult = z
  .object({
    summary: z.string(),
    changedFiles: z.array(z.string()).optional(),
    commits: z.array(z.object({ sha: z.string(), message: z.string() })).optional(),
    pullRequestUrl: z.string().optional(),
    /** The branch the agent pushed (the `git` tool), e.g. the head of the pull request it opened. */
    branch: z.string().optional(),
  })
  .openapi('WorkflowResult');
export type WorkflowResult = z.infer<typeof WorkflowResult>;

export const CallbackState = z
  .object({
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int().nonnegative(),
    lastError: z.string().optional(),
    deliveredAt: z.string().optional(),
  })
  .openapi('CallbackState');

export const Workflow = z
  .object({
    id: z.string(),
    type: WorkflowType,
    priority: Priority,
    status: WorkflowStatus,
    instructions: z.string(),
    repoUrl: z.string().optional(),
    branch: z.string().optional(),
    payload: z.record(z.string(), z.unknown()),
    metadata: z.record(z.string(), z.unknown()),
    sessionId: z.string(),
    attempts: z.number().int().nonnegative(),
    createdAt: z.string(),
    startedAt: z.string().optional(),
    completedAt: z.string().optional(),
    result: WorkflowResult.optional(),
    error: RunFailure.optional(),
    usage: Usage,
    callbackUrl: z.string().optional(),
    callback: CallbackState.optional(),
    policy: Policy.optional(),
    notify: z.array(EventTypeName).optional(),
  })
  .openapi('Workflow');
export type Workflow = z.infer<typeof Workflow>;
