import { APIConnectionError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { classifyError, DEFAULT_RETRY, retryDelayMs } from '../../src/agent/native/retry.ts';
import { capOutput } from '../../src/agent/native/tools.ts';
import { costUsd, priceFor } from '../../src/agent/pricing.ts';
import { toAnthropicTool } from '../../src/agent/tool-schema.ts';
import type { Tool } from '../../src/tools/types.ts';

describe('pricing', () => {
  it('matches model ids by longest prefix', () => {
    expect(priceFor('claude-sonnet-4-5-20250929')).toEqual({ price: { input: 3, output: 15 }, known: true });
    expect(priceFor('claude-opus-4-5-20251101').price).toEqual({ input: 5, output: 25 });
    expect(priceFor('claude-opus-4-1-20250805').price).toEqual({ input: 15, output: 75 });
    expect(priceFor('claude-opus-4-20250514').price).toEqual({ input: 15, output: 75 });
    expect(priceFor('claude-haiku-4-5').price).toEqual({ input: 1, output: 5 });
    expect(priceFor('us.anthropic.claude-haiku-4-5-20251001-v1:0').price).toEqual({ input: 1, output: 5 });
  });

  it('charges unknown models at Sonnet prices', () => {
    expect(priceFor('my-proxy-model')).toEqual({ price: { input: 3, output: 15 }, known: false });
    // Newer releases missing from the table: priced by family.
    expect(priceFor('claude-haiku-5-5').price).toEqual({ input: 1, output: 5 });
    expect(priceFor('claude-opus-5').price).toEqual({ input: 5, output: 25 });
  });

  it('computes cost including cache writes (1.25×) and reads (0.1×)', () => {
    expect(costUsd('claude-sonnet-4-5', { inputTokens: 1_000_000, outputTokens: 1_000_000 })).toBeCloseTo(
      18,
      6,
    );
    expect(
      costUsd('claude-sonnet-4-5', {
        inputTokens: 0,
        outputTokens: 0,
        cacheCreationInputTokens: 1_000_000,
        cacheReadInputTokens: 1_000_000,
      }),
    ).toBeCloseTo(3.75 + 0.3, 6);
    expect(costUsd('claude-opus-4-5', { inputTokens: 1000, outputTokens: 1000 })).toBeCloseTo(0.03, 6);
  });
});

describe('tool schema', () => {
  const tool: Tool<{ command: string; timeout?: number }> = {
    name: 'bash',
    description: 'Run a command',
    input: z.object({
      command: z.string().describe('the command'),
      timeout: z.number().int().default(300000),
    }),
    execute: async () => ({ output: '', isError: false }),
  };

  it('maps a zod schema to input_schema without $schema, input side', () => {
    const def = toAnthropicTool(tool as Tool);
    expect(def.name).toBe('bash');
    expect(def.description).toBe('Run a command');
    expect(def.input_schema.type).toBe('object');
    expect(def.input_schema).not.toHaveProperty('$schema');
    expect(def.input_schema.required).toEqual(['command']);
    expect(
      (def.input_schema.properties as Record<string, { description?: string }>).command?.description,
    ).toBe('the command');
    expect(toAnthropicTool(tool as Tool)).toBe(def); // cached
  });

  it('wraps a non-object schema', () => {
    const weird: Tool = {
      name: 'w',
      description: 'w',
      input: z.string(),
      execute: async () => ({ output: '', isError: false }),
    };
    expect(toAnthropicTool(weird).input_schema.type).toBe('object');
  });
});

describe('capOutput', () => {
  it('keeps short output', () => {
    expect(capOutput('abc', 1024)).toBe('abc');
  });
  it('keeps head and tail with a note, within the limit', () => {
    const text = `HEAD${'x'.repeat(10_000)}TAIL`;
    const out = capOutput(text, 2000);
    expect(out.length).toBeLessThanOrEqual(2000);
    expect(out.startsWith('HEAD')).toBe(true);
    expect(out.endsWith('TAIL')).toBe(true);
    expect(out).toMatch(/\d+ characters omitted/);
  });
});

describe('retry policy', () => {
  const headers = (h: Record<string, string> = {}) => new Headers(h);
  it('retries 429/5xx/529 and mid-stream overloaded errors', () => {
    for (const status of [429, 500, 502, 503, 504, 529]) {
      const err = APIError.generate(
        status,
        { type: 'error', error: { type: 'x', message: 'm' } },
        undefined,
        headers(),
      );
      expect(classifyError(err).kind).toBe('retry');
    }
    const mid = new APIError(
      undefined,
      { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
      undefined,
      headers(),
      'overloaded_error',
    );
    expect(classifyError(mid).kind).toBe('retry');
    expect(classifyError(new APIConnectionError({ message: 'reset' })).kind).toBe('retry');
  });

  it('honours retry-after', () => {
    const err = APIError.generate(
      429,
      { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } },
      undefined,
      headers({ 'retry-after': '2' }),
    );
    const c = classifyError(err);
    expect(c).toMatchObject({ kind: 'retry', retryAfterMs: 2000 });
    expect(retryDelayMs(1, DEFAULT_RETRY, 2000)).toBe(2000);
    expect(retryDelayMs(1, DEFAULT_RETRY, 10 * 60_000)).toBe(DEFAULT_RETRY.maxRetryAfterMs);
  });

  it('backs off exponentially with jitter and a cap', () => {
    const opts = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 };
    for (let i = 0; i < 20; i++) {
      const d1 = retryDelayMs(1, opts);
      const d3 = retryDelayMs(3, opts);
      const d9 = retryDelayMs(9, opts);
      expect(d1).toBeGreaterThanOrEqual(50);
      expect(d1).toBeLessThanOrEqual(100);
      expect(d3).toBeGreaterThanOrEqual(200);
      expect(d3).toBeLessThanOrEqual(400);
      expect(d9).toBeLessThanOrEqual(1000);
    }
  });

  it('maps client errors to stable codes', () => {
    const e400 = APIError.generate(
      400,
      { type: 'error', error: { type: 'invalid_request_error', message: 'bad field' } },
      undefined,
      headers(),
    );
    const c400 = classifyError(e400);
    expect(c400.kind === 'fatal' && c400.error.code).toBe('llm_error');
    expect(c400.kind === 'fatal' && c400.error.message).toContain('400');
    expect(c400.kind === 'fatal' && c400.error.message).toContain('bad field');
    const e401 = APIError.generate(
      401,
      { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } },
      undefined,
      headers(),
    );
    const c401 = classifyError(e401);
    expect(c401.kind === 'fatal' && c401.error.code).toBe('llm_auth_error');
    expect(classifyError(new APIUserAbortError()).kind).toBe('aborted');
  });
});
