// Public types of the claude-code engine: its options, per-run LLM access, tool audit events.
import type { Config } from '../../config.ts';
import type { Logger } from '../../observability/logger.ts';
import type { SandboxWrapper } from '../../sandbox/types.ts';
import type { Tool } from '../../tools/types.ts';
import type { Engine, EngineRunContext } from '../engine.ts';
import type { TokenUsage } from '../pricing.ts';
import type { PolicyOverride, PolicySettings } from './policy.ts';
import type { SlotStats } from './process-pool.ts';
import type { SpareHost, SpareStats } from './spares.ts';

/**
 * How a run that could have used a warm spare started: with one (`spare_ready`, `spare_parked`), or
 * cold — no spare fitted or was left (`cold_no_spare`), the spare's shape differed
 * (`cold_mismatch`), its claim was refused or it died (`cold_refused`), the run resumed a
 * conversation (`cold_resume`).
 */
export type SpareOutcome =
  | 'spare_ready'
  | 'spare_parked'
  | 'cold_no_spare'
  | 'cold_mismatch'
  | 'cold_refused'
  | 'cold_resume';

export interface ToolAuditEvent {
  phase: 'pre' | 'post';
  runId: string;
  sessionId: string;
  tool: string;
  input: unknown;
  isError?: boolean;
  durationMs?: number;
}

export interface LlmAccess {
  baseUrl: string;
  apiKey: string;
  release(): void;
}

export interface ClaudeCodeEngineOptions {
  config: Config;
  logger: Logger;
  /** Runs the CLI inside this sandbox when its kind is not 'none'. */
  sandbox?: SandboxWrapper;
  /** The server's tools bridged as `mcp__server__<name>` (default: ctx.tools minus bash/fs, which Claude Code has itself). */
  serverTools?: (ctx: EngineRunContext) => Tool[];
  /**
   * LLM endpoint and credentials per run (e.g. a per-run proxy token bound to the run's model);
   * default config.anthropicBaseUrl/ApiKey. `onUsage` gets each usage increment the endpoint
   * meters as it streams (the server's budgets act on it, not only on the SDK's own figure).
   */
  llmAccess?: (runId: string, model: string, onUsage?: (increment: TokenUsage) => void) => Promise<LlmAccess>;
  /** Audit/metrics hook: PreToolUse / PostToolUse of every tool call. */
  onToolEvent?: (e: ToolAuditEvent) => void;
  /** Policy settings (default: CLAUDE_ALLOW_TOOLS / CLAUDE_DENY_TOOLS from the config). */
  policySettings?: PolicySettings;
  /** Per-run narrowing of the tool policy (e.g. read-only tools for analysis workflows). */
  policyFor?: (ctx: EngineRunContext) => PolicyOverride | undefined;
  /** How long an interrupted CLI gets to stop before it is killed (default 2000 ms). */
  interruptGraceMs?: number;
  /** Path of the Claude Code executable (default: the one bundled with the SDK). */
  pathToClaudeCodeExecutable?: string;
  /** Called with the CLI's pid when it starts (metrics, tests, benchmarks). */
  onSpawn?: (pid: number | undefined) => void;
  /** Warm spares (CLAUDE_SPARES): what the pool needs from the server; absent or count 0: none. */
  spares?: SpareHost;
  /** Told how each new session's first run started (metrics). */
  onSpareOutcome?: (outcome: SpareOutcome) => void;
}

export interface ClaudeCodeEngine extends Engine {
  readonly name: 'claude-code';
  /** CLI process slots: capacity, in use, waiting runs. */
  stats(): SlotStats;
  /** The warm spares (undefined without any). */
  spareStats(): SpareStats | undefined;
  /** Pids of the parked spares' processes. */
  sparePids(): number[];
}
