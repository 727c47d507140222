// The MCP_CONFIG file (docs/api.md §11): the common `mcpServers` format that Claude Desktop, Claude
// Code and other MCP clients read — `{"mcpServers": {"<name>": {"command", "args"?, "env"?} |
// {"type": "http", "url", "headers"?}}}`. Strict: a misspelt field ("comand", "header") would
// otherwise leave a server silently misconfigured. src/config.ts reads the file, expands
// `${VAR}` references and checks the names; this is only the shape.
import { z } from 'zod';

const StringMap = z.record(z.string(), z.string());

export const McpStdioEntry = z
  .object({
    type: z.literal('stdio').optional(),
    command: z.string().min(1),
    args: z.array(z.string()).optional(),
    env: StringMap.optional(),
  })
  .strict();

export const McpHttpEntry = z
  .object({
    // `sse` is the older HTTP transport: the client tries Streamable HTTP first and falls back to it.
    type: z.enum(['http', 'streamable-http', 'sse']),
    url: z.string().min(1),
    headers: StringMap.optional(),
  })
  .strict();

export const McpConfigFile = z
  .object({
    mcpServers: z.record(z.string(), z.union([McpHttpEntry, McpStdioEntry])),
  })
  .strict();
export type McpConfigFile = z.infer<typeof McpConfigFile>;
