// The tool boundary: what the native engine (and, through an MCP bridge, Claude Code) can call.
import type { z } from 'zod';
import type { RunScope } from './run-scope.ts';

export type ToolOutputSink = (stream: 'stdout' | 'stderr', chunk: string) => void;

export interface ToolContext {
  /** Absolute, realpath-resolved workspace root. Every path a tool touches resolves inside it. */
  workspace: string;
  runId: string;
  sessionId: string;
  signal: AbortSignal;
  onOutput: ToolOutputSink;
  /** Environment for child processes (already an allowlist; never the server's secrets). */
  env: Record<string, string>;
  /** Per-run resources (e.g. the sandboxed fs helper); without it a tool makes and drops them per call. */
  scope?: RunScope;
  /** The session's repository URL (`repoUrl`), the only local remote a run may use besides configured roots. */
  origin?: string;
}

export interface ToolResult {
  output: string;
  isError: boolean;
  /** Structured extras for the server (e.g. commits made, PR url); not sent to the model. */
  meta?: Record<string, unknown>;
}

export interface Tool<I = unknown> {
  name: string;
  description: string;
  /** Validates the model's input; its JSON schema is what the model sees. */
  input: z.ZodType<I>;
  /** Ready JSON Schema shown to the model instead of converting `input` (bridged MCP tools). */
  jsonSchema?: Record<string, unknown>;
  /**
   * `mcp`: a tool of a configured MCP server (the approval rule `mcp` matches these); absent: one
   * of the server's own tools.
   */
  kind?: 'mcp';
  /** For `kind: 'mcp'`: the MCP server's name and the tool's own name there. */
  mcp?: { server: string; tool: string };
  execute(input: I, ctx: ToolContext): Promise<ToolResult>;
}

/** Thrown for inputs a tool refuses (path escapes etc.); reported to the model as an error result. */
export { ToolError } from '../errors.ts';
