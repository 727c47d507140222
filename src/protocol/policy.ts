// What a session or workflow may do without asking, and how much it may spend (docs/api.md §10).
import { z } from '@hono/zod-openapi';

/**
 * Engine-neutral approval rules: `shell` (any command), `shell:<glob>` (commands matching the
 * glob), `write` (create, edit, delete, move a file), `git.push`, `github` (any GitHub API write),
 * `mcp` (any MCP tool), `*` (every tool call).
 */
export const ApprovalRule = z
  .string()
  .min(1)
  .max(256)
  .regex(
    /^(shell|shell:.+|write|git\.push|github|mcp|\*)$/s,
    'an approval rule is shell, shell:<glob>, write, git.push, github, mcp or *',
  )
  .openapi({ example: 'git.push' });
export type ApprovalRule = z.infer<typeof ApprovalRule>;

export const Budget = z
  .object({
    /** Most dollars all runs of the session (or the workflow) may spend. 0 runs nothing. */
    maxCostUsd: z.number().nonnegative().max(1_000_000).optional(),
    /** Most input + output tokens. 0 runs nothing. */
    maxTokens: z.number().int().nonnegative().optional(),
  })
  .strict()
  .openapi('Budget');
export type Budget = z.infer<typeof Budget>;

export const Policy = z
  .object({
    approve: z.array(ApprovalRule).max(64).optional(),
    /** How long a tool call waits for a decision before it is denied (`by: "timeout"`); default 900000. */
    approvalTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(7 * 24 * 3600_000)
      .optional(),
    budget: Budget.optional(),
  })
  .strict()
  .openapi('Policy');
export type Policy = z.infer<typeof Policy>;

export const DEFAULT_APPROVAL_TIMEOUT_MS = 900_000;
