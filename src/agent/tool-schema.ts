// Tool → Anthropic tool definition. The model sees the JSON Schema of the tool's zod input
// schema (zod v4 `z.toJSONSchema`, input side so defaulted fields are optional).
import type { Tool as ApiTool } from '@anthropic-ai/sdk/resources/messages/messages';
import { z } from 'zod';
import type { Tool } from '../tools/types.ts';

export type AnthropicTool = ApiTool;

const cache = new WeakMap<Tool, AnthropicTool>();
/**
 * Converted input schemas by zod schema. Tools are made per run (they close over the run's
 * workspace), but their zod schemas are module constants: without this, every run converted every
 * schema again (≈ 1 ms of CPU per run, most of a burst's per-run work before its first request).
 * Frozen, since one object now serves every run.
 */
const schemaCache = new WeakMap<object, AnthropicTool['input_schema']>();

/**
 * A tool may carry a ready JSON Schema (e.g. a bridged MCP tool whose zod schema is only a
 * permissive validator); it is used as-is instead of converting `input`.
 */
interface WithJsonSchema {
  jsonSchema?: unknown;
}

export function toolInputJsonSchema(tool: Tool): AnthropicTool['input_schema'] {
  const given = (tool as Tool & WithJsonSchema).jsonSchema;
  if (given === undefined) {
    let hit = schemaCache.get(tool.input);
    if (!hit) {
      hit = deepFreeze(convert(tool, undefined));
      schemaCache.set(tool.input, hit);
    }
    return hit;
  }
  return convert(tool, given);
}

function convert(tool: Tool, given: unknown): AnthropicTool['input_schema'] {
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

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
