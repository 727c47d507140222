// Tool → Anthropic tool definition. The model sees the JSON Schema of the tool's zod input
// schema (zod v4 `z.toJSONSchema`, input side so defaulted fields are optional).
import type { Tool as ApiTool } from '@anthropic-ai/sdk/resources/messages/messages';
import { z } from 'zod';
import type { Tool } from '../tools/types.ts';

export type AnthropicTool = ApiTool;

const cache = new WeakMap<Tool, AnthropicTool>();

/**
 * A tool may carry a ready JSON Schema (e.g. a bridged MCP tool whose zod schema is only a
 * permissive validator); it is used as-is instead of converting `input`.
 */
interface WithJsonSchema {
  jsonSchema?: unknown;
}

export function toolInputJsonSchema(tool: Tool): AnthropicTool['input_schema'] {
  const given = (tool as Tool & WithJsonSchema).jsonSchema;
  let schema: Record<string, unknown>;
  if (isRecord(given)) {
    schema = { ...given };
  } else {
    try {
      schema = z.toJSONSchema(tool.input, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    } catch {
      // Cyclic or otherwise unconvertible schema: let the model send any object; zod still validates.
      schema = { type: 'object' };
    }
  }
  delete schema.$schema;
  // The API requires an object schema at the top level.
  if (schema.type !== 'object') {
    schema = { type: 'object', properties: {}, additionalProperties: true };
  }
  return schema as AnthropicTool['input_schema'];
}

/** The Anthropic tool definition of `tool` (cached per tool object). */
export function toAnthropicTool(tool: Tool): AnthropicTool {
  const hit = cache.get(tool);
  if (hit) return hit;
  const def: AnthropicTool = {
    name: tool.name,
    description: tool.description,
    input_schema: toolInputJsonSchema(tool),
  };
  cache.set(tool, def);
  return def;
}

export function toAnthropicTools(tools: readonly Tool[]): AnthropicTool[] {
  return tools.map(toAnthropicTool);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
