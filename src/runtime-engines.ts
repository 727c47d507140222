// The engines of the composition root: both load lazily (their SDKs are heavy), and the Claude
// Code CLI — and every command it runs — lives in the sandbox, reaching the LLM only through the
// server's proxy with a per-run token (docs/security.md).
import type { SpareHost } from './agent/claude-code/spares.ts';
import type { SpareOutcome } from './agent/claude-code/types.ts';
import { type LazyEngine, lazyEngine } from './agent/lazy.ts';
import type { Config } from './config.ts';
import type { AuditLog } from './observability/audit.ts';
import type { Logger } from './observability/logger.ts';
import type { EngineName } from './protocol/index.ts';
import { buildChildEnv } from './sandbox/child-env.ts';
import { sandboxUnavailableReason } from './sandbox/index.ts';
import type { SandboxWrapper } from './sandbox/types.ts';
import type { WorkspaceManager } from './sandbox/workspace/manager.ts';
import type { LlmProxy } from './security/llm-proxy.ts';
import { summarizeToolInput } from './tools/audit.ts';
import type { Tool } from './tools/types.ts';

export function createEngines(o: {
  config: Config;
  logger: Logger;
  sandbox: SandboxWrapper;
  audit: AuditLog;
  llmProxy?: LlmProxy;
  /** Warm Claude Code spares (absent: none). */
  spares?: SpareHost;
  onSpareOutcome?: (outcome: SpareOutcome) => void;
}): Partial<Record<EngineName, LazyEngine>> {
  const { config, logger, sandbox, audit, llmProxy } = o;
  return {
    native: lazyEngine('native', async () =>
      (await import('./agent/native/engine.ts')).createNativeEngine({ config }),
    ),
    'claude-code': lazyEngine('claude-code', async () =>
      (await import('./agent/claude-code/engine.ts')).createClaudeCodeEngine({
        config,
        logger: logger.child({ component: 'claude-code' }),
        sandbox,
        ...(o.spares ? { spares: o.spares } : {}),
        ...(o.onSpareOutcome ? { onSpareOutcome: o.onSpareOutcome } : {}),
        // The token is bound to the run's model: the proxy refuses any other.
        ...(llmProxy
          ? {
              llmAccess: async (runId, model, onUsage) =>
                llmProxy.grant(runId, { model, ...(onUsage ? { onUsage: (inc) => onUsage(inc) } : {}) }),
            }
          : {}),
        // Claude Code's own tools (Read, Edit, Bash, …) do not pass through auditTools: record them here.
        // Every mcp__* tool it has is one of ours through the bridge (the server's and the configured
        // MCP servers'), already audited by auditTools.
        onToolEvent: (e) => {
          if (e.phase !== 'post' || e.tool.startsWith('mcp__')) return;
          void audit.record({
            actor: 'agent',
            action: 'tool.call',
            target: e.sessionId,
            outcome: e.isError ? 'error' : 'ok',
            details: {
              tool: e.tool,
              input: summarizeToolInput(e.tool, e.input),
              runId: e.runId,
              durationMs: e.durationMs,
              engine: 'claude-code',
            },
          });
        },
      }),
    ),
  };
}

/** The spare counts: CLAUDE_SPARES / CLAUDE_SPARES_READY, or sized to the memory free at start-up. */
export function spareCounts(
  config: Pick<Config, 'engine' | 'claudeSpares' | 'claudeSparesReady' | 'admission'>,
  availableBytes: number,
): { count: number; ready: number } {
  const perSpare = Math.max(1, config.admission.estimateBytes['claude-code']);
  // A server whose sessions default to native starts none unless asked; else ⅛ of free memory, 1–4.
  const auto =
    config.engine === 'native' ? 0 : Math.max(1, Math.min(4, Math.floor(availableBytes / 8 / perSpare)));
  const count = config.claudeSpares ?? auto;
  const ready = Math.min(count, config.claudeSparesReady ?? Math.ceil(count / 2));
  return { count, ready };
}

/**
 * What the spare pool needs from the server, or undefined when there are to be none: no spares
 * configured, no LLM proxy (a parked spare must hold a token that is worth nothing until claimed),
 * or a sandbox that cannot run anything.
 */
export function spareHostOf(o: {
  config: Config;
  sandbox: SandboxWrapper;
  llmProxy: LlmProxy | undefined;
  workspaces: WorkspaceManager;
  tools: () => Tool[];
  admit: (key: string) => boolean;
  released: (key: string) => void;
}): SpareHost | undefined {
  const { config, llmProxy, workspaces } = o;
  const { count, ready } = spareCounts(config, process.availableMemory());
  if (count === 0 || !llmProxy || sandboxUnavailableReason(o.sandbox)) return undefined;
  return {
    count,
    ready,
    model: config.model,
    slots: { allocate: () => workspaces.allocateSlot(), discard: (name) => workspaces.discardSlot(name) },
    // Exactly what the workspace preparer gives a run in that home (runs/workspace-preparer.ts).
    envFor: (home) => buildChildEnv(config, { home }),
    tools: o.tools,
    reserveLlm: () => {
      const r = llmProxy.reserve();
      return {
        baseUrl: r.baseUrl,
        apiKey: r.apiKey,
        activate: (runId, model, onUsage) =>
          r.activate(runId, { model, ...(onUsage ? { onUsage: (inc) => onUsage(inc) } : {}) }),
        release: () => r.release(),
      };
    },
    admit: o.admit,
    released: o.released,
  };
}
