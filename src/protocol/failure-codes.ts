// Why a run failed: the `code` of `run.failed {error}`, of an EngineError and of a failed
// workflow's `error`. Declared once, here, with its meaning; the type, the OpenAPI enum and the
// table in docs/api.md (scripts/gen-event-docs.ts) all come from this list.
import { z } from '@hono/zod-openapi';
import { Usage } from './common.ts';
import { literalKeys } from './keys.ts';

export const runFailureCodes = {
  missing_api_key: 'ANTHROPIC_API_KEY is not set: the engine cannot call the LLM',
  llm_auth_error: 'the LLM API rejected the credentials (HTTP 401/403)',
  llm_error: 'the LLM API refused the request with an error that retrying cannot fix',
  llm_unavailable: 'the LLM API stayed unavailable (overloaded, 5xx, connection errors) through every retry',
  budget_exceeded:
    "the run would pass its session's or workflow's budget, the server's cap per session or workflow, or its API key's daily cap (`error.usage`: the run's usage so far); a run with nothing left of a budget is refused before it starts",
  clone_failed: "the session's repository could not be cloned into the workspace",
  sandbox_unavailable: 'the sandbox cannot start on this server (see /health); nothing runs unsandboxed',
  engine_unavailable: "the session's engine is not available on this server",
  engine_closed: 'the engine was shutting down when the run reached it',
  engine_error: 'the engine (Claude Code) stopped with an error of its own, not an LLM error',
  aborted: 'the engine stopped for a reason other than a cancel, a drain or a timeout',
  timeout: "the run exceeded its time limit (a workflow's `timeoutMs`) and was stopped",
  max_attempts_exceeded:
    'the run was started WORKFLOW_MAX_ATTEMPTS times without finishing (crashes, lost leases)',
  disk_quota_exceeded: 'the workspace grew over WORKSPACE_QUOTA_BYTES (or nests too deep to measure)',
  internal: 'an unexpected server error (a bug); the message says what failed',
} as const satisfies Record<string, string>;

export type RunFailureCode = keyof typeof runFailureCodes;

export const RunFailureCode = z.enum(literalKeys(runFailureCodes)).openapi('RunFailureCode', {
  description: Object.entries(runFailureCodes)
    .map(([code, meaning]) => `- \`${code}\`: ${meaning}`)
    .join('\n'),
});

/** The `error` of a failed run or workflow. */
export const RunFailure = z
  .object({
    code: RunFailureCode,
    message: z.string(),
    /** With `budget_exceeded`: what the run used until it was stopped (docs/api.md §10). */
    usage: Usage.optional(),
  })
  .strict()
  .openapi('RunFailure');
export type RunFailure = z.infer<typeof RunFailure>;
