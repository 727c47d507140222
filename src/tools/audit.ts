// Tool-call auditing: wraps the native engine's tools so every call lands in the audit log as
// `tool.call`, and summarises tool inputs (also for Claude Code's own tools, see src/runtime.ts).
// It lives with the tools because it knows their inputs; the log itself is
// src/observability/audit.ts. The composition root wires the wrapper around each run's tools.
import type { AuditLog, AuditOutcome } from '../observability/audit.ts';
import type { Tool, ToolContext, ToolResult } from './types.ts';

const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…[${s.length - n} more chars]` : s);

/** A short, secret-free description of a tool input (the full input is in the run's events). */
export function summarizeToolInput(tool: string, input: unknown): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { input: typeof input };
  const i = input as Record<string, unknown>;
  const str = (k: string, n = 500) => (typeof i[k] === 'string' ? { [k]: cut(i[k] as string, n) } : {});
  const num = (k: string) => (typeof i[k] === 'number' || typeof i[k] === 'boolean' ? { [k]: i[k] } : {});
  const len = (k: string) =>
    typeof i[k] === 'string' ? { [`${k}Bytes`]: Buffer.byteLength(i[k] as string) } : {};
  switch (tool) {
    case 'bash':
      return { ...str('command', 500), ...str('cwd', 300), ...num('timeout') };
    case 'fs':
      return {
        ...str('operation', 32),
        ...str('path', 500),
        ...str('destination', 500),
        ...str('pattern', 200),
        ...str('glob', 200),
        ...num('replaceAll'),
        ...len('content'),
        ...len('newString'),
      };
    case 'git':
      return {
        ...str('operation', 32),
        ...str('repoUrl', 500),
        ...str('branch', 255),
        ...str('ref', 255),
        ...str('message', 200),
        ...num('all'),
      };
    default: {
      // Unknown and MCP tools: top-level scalars, shortened; structures by size only.
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(i).slice(0, 20)) {
        if (typeof v === 'string') out[k] = cut(v, 200);
        else if (typeof v === 'number' || typeof v === 'boolean' || v === null) out[k] = v;
        else if (Array.isArray(v)) out[k] = `[array of ${v.length}]`;
        else out[k] = `[${typeof v}]`;
      }
      return out;
    }
  }
}

/**
 * Wraps tools so every call is recorded as `tool.call` (tool, input summary, outcome, duration,
 * run, workspace). Behaviour is unchanged: results and errors pass through as they are.
 */
export function auditTools(
  tools: Tool[],
  audit: AuditLog,
  ctx: { runId: string; sessionId: string; workspace?: string; actor?: string },
): Tool[] {
  return tools.map((tool) => ({
    ...tool,
    execute: async (input: unknown, tctx: ToolContext): Promise<ToolResult> => {
      const started = performance.now();
      const base = {
        tool: tool.name,
        input: summarizeToolInput(tool.name, input),
        runId: ctx.runId,
        workspace: ctx.workspace ?? tctx.workspace,
      };
      const record = (outcome: AuditOutcome, extra: Record<string, unknown>) =>
        void audit.record({
          actor: ctx.actor ?? 'agent',
          action: 'tool.call',
          target: ctx.sessionId,
          outcome,
          details: { ...base, durationMs: Math.round(performance.now() - started), ...extra },
        });
      try {
        const result = await tool.execute(input, tctx);
        record(result.isError ? 'error' : 'ok', result.isError ? { error: cut(result.output, 300) } : {});
        return result;
      } catch (err) {
        record('error', { error: cut(err instanceof Error ? err.message : String(err), 300) });
        throw err;
      }
    },
  }));
}
