// The engines of the composition root: both load lazily (their SDKs are heavy), and the Claude
// Code CLI — and every command it runs — lives in the sandbox, reaching the LLM only through the
// server's proxy with a per-run token (docs/security.md).
import type { Engine } from './agent/engine.ts';
import { lazyEngine } from './agent/lazy.ts';
import type { Config } from './config.ts';
import type { AuditLog } from './observability/audit.ts';
import type { Logger } from './observability/logger.ts';
import type { EngineName } from './protocol/index.ts';
import type { SandboxWrapper } from './sandbox/types.ts';
import type { LlmProxy } from './security/llm-proxy.ts';
import { summarizeToolInput } from './tools/audit.ts';

export function createEngines(o: {
  config: Config;
  logger: Logger;
  sandbox: SandboxWrapper;
  audit: AuditLog;
  llmProxy?: LlmProxy;
}): Partial<Record<EngineName, Engine>> {
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
