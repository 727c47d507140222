// The event and failure-code tables of docs/api.md, rendered from the declarations in
// src/protocol (event-types.ts, failure-codes.ts). scripts/gen-event-docs.ts writes them into the
// doc; test/unit/event-docs.test.ts fails when the doc is not what this renders.
import { z } from '@hono/zod-openapi';
import { eventTypeNames, eventTypes } from '../src/protocol/events.ts';
import { RunFailureCode, runFailureCodes } from '../src/protocol/failure-codes.ts';

export const BEGIN =
  '<!-- BEGIN generated from src/protocol/event-types.ts and failure-codes.ts: edit those, then `npm run docs:events` -->';
export const END = '<!-- END generated event tables -->';

/** Schemas shown by name instead of spelled out (they have their own table). */
const NAMED = new Map<z.core.$ZodType, string>([[RunFailureCode, 'RunFailureCode']]);

/** `{attempt, reason?: "drain"|"worker_lost"}`: the fields of a data schema, compactly. */
export function describeSchema(schema: z.core.$ZodType): string {
  const named = NAMED.get(schema);
  if (named) return named;
  if (schema instanceof z.ZodObject) {
    const fields = Object.entries(schema.shape).map(([key, field]) => describeField(key, field));
    return `{${fields.join(', ')}}`;
  }
  if (schema instanceof z.ZodEnum) return schema.options.map((o) => JSON.stringify(o)).join('|');
  return '';
}

function describeField(key: string, field: z.core.$ZodType): string {
  const optional = field instanceof z.ZodOptional;
  const inner = field instanceof z.ZodOptional ? field.unwrap() : field;
  const detail = describeSchema(inner);
  return `${key}${optional ? '?' : ''}${detail ? `: ${detail}` : ''}`;
}

/** Markdown table cells: `|` must be escaped, also inside code spans. */
const cell = (text: string): string => text.replaceAll('|', '\\|');

export function renderEventTables(): string {
  const lines = ['| type | data | meaning |', '|---|---|---|'];
  for (const type of eventTypeNames) {
    const decl = eventTypes[type];
    lines.push(`| \`${type}\` | \`${cell(describeSchema(decl.data))}\` | ${cell(decl.doc)} |`);
  }
  lines.push(
    '',
    'Failure codes (`RunFailureCode`: `error.code` of `run.failed` and of a failed workflow):',
    '',
  );
  lines.push('| code | meaning |', '|---|---|');
  for (const [code, meaning] of Object.entries(runFailureCodes))
    lines.push(`| \`${code}\` | ${cell(meaning)} |`);
  return [BEGIN, ...lines, END].join('\n');
}

/** The generated region of `doc` (markers included), or undefined when the markers are missing. */
export function generatedRegion(doc: string): { start: number; end: number } | undefined {
  const start = doc.indexOf(BEGIN);
  const endAt = doc.indexOf(END, start);
  if (start < 0 || endAt < 0) return undefined;
  return { start, end: endAt + END.length };
}

/** `doc` with its generated region replaced by the current tables. */
export function withCurrentTables(doc: string): string {
  const region = generatedRegion(doc);
  if (!region) throw new Error(`docs/api.md has no generated region (${BEGIN} … ${END})`);
  return doc.slice(0, region.start) + renderEventTables() + doc.slice(region.end);
}
