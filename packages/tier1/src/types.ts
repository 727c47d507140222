// The wire types of docs/api.md §6, §7 and §10 that Tier 1 uses, written out by hand: the server's
// own zod schemas (src/protocol/) pull in zod and Hono, which a Worker should not pay for.
// Field sets are open (`[k: string]: unknown`) where the contract says more fields may come.

export type WorkflowType = 'refactor' | 'analysis' | 'test' | 'deploy' | 'custom';
export type Priority = 'low' | 'medium' | 'high';
export type WorkflowStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
export const TERMINAL_STATUSES: readonly WorkflowStatus[] = ['completed', 'failed', 'cancelled'];

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface WorkflowResult {
  summary: string;
  changedFiles?: string[];
  commits?: Array<{ sha: string; message: string }>;
  pullRequestUrl?: string;
  [k: string]: unknown;
}

export interface Workflow {
  id: string;
  type: WorkflowType;
  priority: Priority;
  status: WorkflowStatus;
  instructions: string;
  repoUrl?: string;
  branch?: string;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
  sessionId: string;
  attempts: number;
  createdAt: string;
  startedAt?: string;
  completedAt?: string;
  result?: WorkflowResult;
  error?: { code: string; message: string };
  usage: Usage;
  callbackUrl?: string;
  [k: string]: unknown;
}

/** docs/api.md §10: what a session or workflow may do without asking. */
export interface Policy {
  /** `shell`, `shell:<glob>`, `write`, `git.push`, `github`, `mcp`, `*`. */
  approve?: string[];
  approvalTimeoutMs?: number;
  budget?: { maxCostUsd?: number; maxTokens?: number };
}

export interface SubmitWorkflowRequest {
  type: WorkflowType;
  instructions: string;
  repoUrl?: string;
  branch?: string;
  priority?: Priority;
  engine?: 'claude-code' | 'native';
  model?: string;
  callbackUrl?: string;
  idempotencyKey?: string;
  timeoutMs?: number;
  payload?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  policy?: Policy;
  /** Event types also POSTed to callbackUrl as they happen (`X-Callback-Kind: event`), §10. */
  notify?: string[];
}

export interface AgentEvent {
  seq: number;
  sessionId: string;
  runId?: string;
  type: string;
  ts: string;
  data: Record<string, unknown>;
}

/** `approval.requested` data (§10). */
export interface ApprovalRequested {
  approvalId: string;
  toolUseId: string;
  name: string;
  input: unknown;
  rule: string;
  expiresAt: string;
}

export type ApprovalDecision = 'allow' | 'deny';

export interface ApprovalDecided {
  approvalId: string;
  decision: ApprovalDecision;
  by: 'user';
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
