// Approvals: a tool call a policy rule stops until someone decides (docs/api.md §10).
import { z } from '@hono/zod-openapi';

export const ApprovalDecision = z.enum(['allow', 'deny']);
export type ApprovalDecision = z.infer<typeof ApprovalDecision>;

/** Who (or what) decided: a person, the timeout, a cancel/interrupt/delete, a restart of the server. */
export const ApprovalDecidedBy = z.enum(['user', 'timeout', 'cancel', 'restart']);
export type ApprovalDecidedBy = z.infer<typeof ApprovalDecidedBy>;

export const ApprovalDecisionRequest = z
  .object({
    decision: ApprovalDecision,
    /** Told to the model with a denial ("denied by the user: <message>"). */
    message: z.string().max(4_000).optional(),
  })
  .strict()
  .openapi('ApprovalDecisionRequest');
export type ApprovalDecisionRequest = z.infer<typeof ApprovalDecisionRequest>;

export const ApprovalDecided = z
  .object({ approvalId: z.string(), decision: ApprovalDecision, by: z.literal('user') })
  .openapi('ApprovalDecided');
export type ApprovalDecided = z.infer<typeof ApprovalDecided>;

export const ApprovalStatus = z.enum(['pending', 'decided']);
export type ApprovalStatus = z.infer<typeof ApprovalStatus>;

export const Approval = z
  .object({
    approvalId: z.string(),
    sessionId: z.string(),
    workflowId: z.string().optional(),
    runId: z.string(),
    toolUseId: z.string(),
    name: z.string(),
    input: z.unknown(),
    rule: z.string(),
    status: ApprovalStatus,
    decision: ApprovalDecision.optional(),
    by: ApprovalDecidedBy.optional(),
    message: z.string().optional(),
    requestedAt: z.string(),
    expiresAt: z.string(),
    decidedAt: z.string().optional(),
  })
  .openapi('Approval');
export type Approval = z.infer<typeof Approval>;
