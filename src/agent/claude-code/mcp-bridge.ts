// The server's own tools (git, gh, remote MCP tools) inside Claude Code: an in-process SDK MCP
// server named `server`, so the model sees them as `mcp__server__git` etc. Each call runs the
// Tool with a ToolContext on the run's workspace, env and abort signal; its output is streamed as
// `tool.output` under the Claude Code tool_use id.
import {
  createSdkMcpServer,
  type McpSdkServerConfigWithInstance,
  type SdkMcpToolDefinition,
  tool as sdkTool,
} from '@anthropic-ai/claude-agent-sdk';
import { z } from 'zod';
import type { RunScope } from '../../tools/run-scope.ts';
import type { Tool, ToolContext, ToolResult } from '../../tools/types.ts';
import { ToolError } from '../../tools/types.ts';
import type { EngineEvent } from '../engine.ts';
import { capOutput } from '../native/tools.ts';
import { SERVER_MCP_NAME } from './policy.ts';

export interface BridgeContext {
  workspace: string;
  runId: string;
  sessionId: string;
  env: Record<string, string>;
  signal: AbortSignal;
  emit(event: EngineEvent): void;
  outputLimit: number;
  /** Collects the tools' `meta` (commits, PR urls) for EngineResult.toolMeta. */
  onMeta(meta: Record<string, unknown>): void;
  scope?: RunScope;
  origin?: string;
}

interface CallToolResult {
  content: Array<{ type: 'text'; text: string }>;
  isError?: boolean;
  [k: string]: unknown;
}

type RawShape = Record<string, z.ZodType>;

const NOT_SERVING = 'This Claude Code process is not serving a run: tool calls are refused.';

/** The tool_use id Claude Code passes in the MCP request's `_meta` (`claudecode/toolUseId`). */
export function toolUseIdOf(extra: unknown): string | undefined {
  if (typeof extra !== 'object' || extra === null) return undefined;
  const meta = (extra as { _meta?: unknown })._meta;
  if (typeof meta !== 'object' || meta === null) return undefined;
  const id = (meta as Record<string, unknown>)['claudecode/toolUseId'];
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/**
 * The input schema handed to the SDK (what the model sees and the MCP server pre-validates): a
 * ZodObject's shape, the documented form. A union of objects (e.g. a discriminated union on
 * `operation`) is flattened into one loose object whose fields are the members' fields (optional
 * unless in every member), so the model still sees every field; anything else becomes a loose
 * object. The bundled MCP server accepts such a whole schema too. The tool's own schema validates
 * strictly in `runServerTool` either way.
 */
export function inputShape(schema: z.ZodType): RawShape {
  if (schema instanceof z.ZodObject) return schema.shape as RawShape;
  if (schema instanceof z.ZodUnion) {
    const members = schema.options as readonly z.ZodType[];
    if (members.length > 0 && members.every((m) => m instanceof z.ZodObject)) {
      const shapes = members.map((m) => (m as z.ZodObject).shape as RawShape);
      const keys = [...new Set(shapes.flatMap((sh) => Object.keys(sh)))];
      const flat: RawShape = {};
      for (const k of keys) {
        const types = shapes.flatMap((sh) => (sh[k] ? [sh[k]] : []));
        const t = types.length === 1 ? types[0]! : z.union(types as [z.ZodType, z.ZodType, ...z.ZodType[]]);
        flat[k] = types.length === shapes.length ? t : t.optional();
      }
      return z.looseObject(flat) as unknown as RawShape;
    }
  }
  const description = schema.description;
  const loose = z.looseObject({});
  return (description ? loose.describe(description) : loose) as unknown as RawShape;
}

export async function runServerTool(
  tool: Tool,
  args: unknown,
  extra: unknown,
  ctx: BridgeContext,
): Promise<CallToolResult> {
  const toolUseId = toolUseIdOf(extra) ?? `mcp_${tool.name}`;
  let finished = false;
  const toolCtx: ToolContext = {
    workspace: ctx.workspace,
    runId: ctx.runId,
    sessionId: ctx.sessionId,
    signal: ctx.signal,
    env: ctx.env,
    ...(ctx.scope ? { scope: ctx.scope } : {}),
    ...(ctx.origin ? { origin: ctx.origin } : {}),
    onOutput: (stream, chunk) => {
      if (finished || ctx.signal.aborted || chunk === '') return;
      ctx.emit({ type: 'tool.output', data: { toolUseId, stream, chunk } });
    },
  };
  let result: ToolResult;
  const parsed = tool.input.safeParse(args);
  if (!parsed.success) {
    result = {
      output: `Invalid input for tool "${tool.name}":\n${z.prettifyError(parsed.error)}`,
      isError: true,
    };
  } else {
    try {
      const r = await tool.execute(parsed.data, toolCtx);
      result = {
        output: typeof r?.output === 'string' ? r.output : String(r?.output ?? ''),
        isError: r?.isError === true,
      };
      if (r?.meta && typeof r.meta === 'object' && Object.keys(r.meta).length > 0) ctx.onMeta(r.meta);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      result = {
        output: err instanceof ToolError ? message : `Tool "${tool.name}" failed: ${message}`,
        isError: true,
      };
    }
  }
  finished = true;
  const text = capOutput(result.output, ctx.outputLimit);
  return { content: [{ type: 'text', text: text === '' ? '(no output)' : text }], isError: result.isError };
}

/**
 * The in-process MCP servers for `tools`: the server's own tools under `server` (Claude Code names
 * them `mcp__server__git` …), and each configured MCP server's tools under that server's name, so
 * Claude Code sees `mcp__memory__create_entities` exactly as the native engine does. Every call still
 * runs the server's Tool (audit, approvals, output cap) — Claude Code never talks to those MCP
 * servers itself. Empty when there are no tools.
 */
export function createServerToolsMcp(
  tools: readonly Tool[],
  target: BridgeContext | ((name: string) => { tool: Tool; ctx: BridgeContext } | undefined),
): Record<string, McpSdkServerConfigWithInstance> {
  // The definitions the model sees are `tools`'; a call runs the tool `target` names for it (the
  // run's own, audited instance — a warm spare is started before its run and its tools exist).
  const resolve =
    typeof target === 'function' ? target : (name: string) => ({ tool: byName.get(name)!, ctx: target });
  const byName = new Map(tools.map((t) => [t.name, t]));
  const groups = new Map<string, SdkMcpToolDefinition<RawShape>[]>();
  for (const t of tools) {
    const server = t.kind === 'mcp' && t.mcp ? t.mcp.server : SERVER_MCP_NAME;
    // The tool's name inside its group: what follows `mcp__<server>__` in the name the model sees.
    const prefix = `mcp__${server}__`;
    const name = t.kind === 'mcp' && t.name.startsWith(prefix) ? t.name.slice(prefix.length) : t.name;
    const schema = t.jsonSchema ? jsonSchemaShape(t.jsonSchema) : inputShape(t.input);
    const def = sdkTool(name, t.description, schema, async (args, extra) => {
      const r = resolve(t.name);
      if (!r) return { content: [{ type: 'text', text: NOT_SERVING }], isError: true };
      return runServerTool(r.tool, args, extra, r.ctx);
    });
    groups.set(server, [...(groups.get(server) ?? []), def]);
  }
  const out: Record<string, McpSdkServerConfigWithInstance> = {};
  for (const [server, defs] of groups)
    out[server] = createSdkMcpServer({ name: server, version: '1.0.0', tools: defs });
  return out;
}

/**
 * A bridged MCP tool's own JSON Schema, as a loose zod object with its properties (so the model
 * sees their names and descriptions); the MCP server validates the arguments itself.
 */
function jsonSchemaShape(schema: Record<string, unknown>): RawShape {
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  const shape: RawShape = {};
  for (const [k, p] of Object.entries(props)) {
    let base: z.ZodType;
    try {
      base = z.fromJSONSchema(p as never);
    } catch {
      base = z.unknown(); // a schema zod cannot express: the MCP server still validates
    }
    const described = typeof p.description === 'string' ? base.describe(p.description) : base;
    shape[k] = required.has(k) ? described : described.optional();
  }
  return z.looseObject(shape) as unknown as RawShape;
}
