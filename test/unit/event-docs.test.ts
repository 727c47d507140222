// docs/api.md documents the events and failure codes from their declarations: its generated
// tables are exactly what scripts/event-docs.ts renders (regenerate with `npm run docs:events`).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeSchema, generatedRegion, renderEventTables } from '../../scripts/event-docs.ts';
import { eventTypeNames, eventTypes, runFailureCodes } from '../../src/protocol/index.ts';

const doc = fs.readFileSync(path.join(import.meta.dirname, '..', '..', 'docs', 'api.md'), 'utf8');

describe('event tables of docs/api.md', () => {
  it('are the ones rendered from src/protocol (run `npm run docs:events` after changing a declaration)', () => {
    const region = generatedRegion(doc);
    expect(region, 'docs/api.md has no generated event tables').toBeDefined();
    expect(doc.slice(region!.start, region!.end)).toBe(renderEventTables());
  });

  it('list every declared event type with its data fields, and every failure code', () => {
    const region = generatedRegion(doc)!;
    const tables = doc.slice(region.start, region.end);
    for (const type of eventTypeNames) {
      const row = tables.split('\n').find((l) => l.startsWith(`| \`${type}\` |`));
      expect(row, type).toBeDefined();
      for (const field of Object.keys(eventTypes[type].data.shape))
        expect(row, `${type}.${field}`).toContain(field);
    }
    for (const code of Object.keys(runFailureCodes)) expect(tables).toContain(`| \`${code}\` |`);
  });

  it('spell fields compactly: optional marks, enums and nested objects', () => {
    expect(describeSchema(eventTypes['run.queued'].data)).toBe('{attempt, reason?: "drain"|"worker_lost"}');
    expect(describeSchema(eventTypes['run.failed'].data)).toBe(
      '{error: {code: RunFailureCode, message, usage?: {inputTokens, outputTokens, costUsd}}}',
    );
    expect(describeSchema(eventTypes['run.completed'].data)).toBe(
      '{stopReason, usage: {inputTokens, outputTokens, costUsd}}',
    );
  });
});
