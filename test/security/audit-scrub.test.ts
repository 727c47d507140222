// The audit log's secret scrubbing, its never-throw contract, and the tool-call decorator.

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AuditLog, isSensitiveKey, REDACTED, SecretScrubber } from '../../src/observability/audit.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { AuditRecord } from '../../src/store/types.ts';
import { auditTools, summarizeToolInput } from '../../src/tools/audit.ts';
import type { Tool, ToolContext } from '../../src/tools/types.ts';

const API_KEY = 'ak_live_9f8e7d6c5b4a3210';
const SIGNING = 'sig-secret-0123456789abcdef';

const collect = () => {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', write: (l) => lines.push(l) });
  return { lines, logger };
};

describe('SecretScrubber', () => {
  const s = new SecretScrubber([API_KEY, SIGNING, undefined, 'ab']);

  it('masks sensitive keys at any depth', () => {
    const out = s.value({
      apiKey: 'x1',
      API_KEY: 'x2',
      'x-api-key': 'x3',
      token: 'x4',
      githubToken: 'x5',
      password: 'x6',
      Authorization: 'x7',
      key: 'x8',
      nested: { clientSecret: 'x9', list: [{ accessToken: 'x10' }] },
      inputTokens: 12,
      idempotencyKey: 'keep-me',
      path: 'src/index.ts',
    }) as Record<string, unknown>;
    const text = JSON.stringify(out);
    for (let i = 1; i <= 10; i++) expect(text).not.toContain(`"x${i}"`);
    expect(out.apiKey).toBe(REDACTED);
    expect(out.inputTokens).toBe(12);
    expect(out.idempotencyKey).toBe('keep-me');
    expect(out.path).toBe('src/index.ts');
  });

  it('masks configured secrets and credential-looking values inside strings', () => {
    const cases: Array<[string, string]> = [
      [`curl -H "Authorization: Bearer ${API_KEY}" http://x`, API_KEY],
      [`echo ${SIGNING} > f`, SIGNING],
      ['Bearer abcdefghijklmnop1234', 'abcdefghijklmnop1234'],
      ['git clone https://user:hunter2pass@github.com/o/r.git', 'hunter2pass'],
      [
        'git clone https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/o/r',
        'ghp_abcdefghijklmnopqrstuvwxyz0123',
      ],
      ['GITHUB_TOKEN=abc123secretvalue npm publish', 'abc123secretvalue'],
      ['{"password": "p4ssw0rd!!"}', 'p4ssw0rd!!'],
      ['wss://host/ws?token=tok_1234567890', 'tok_1234567890'],
      ['ANTHROPIC key sk-ant-api03-AbCdEfGhIjKlMnOp', 'sk-ant-api03-AbCdEfGhIjKlMnOp'],
      ['x-api-key: k-1234567890', 'k-1234567890'],
    ];
    for (const [input, secret] of cases) {
      const out = s.text(input);
      expect(out, input).not.toContain(secret);
      expect(out, input).toContain(REDACTED);
    }
    expect(s.text('git status && npm test')).toBe('git status && npm test');
    expect(s.text('usage: inputTokens: 5, max_tokens: 100')).toBe('usage: inputTokens: 5, max_tokens: 100');
    // Too-short configured values are not treated as secrets (they would mask ordinary text).
    expect(s.text('abc')).toBe('abc');
  });

  it('bounds what it keeps', () => {
    const out = s.value({ long: 'y'.repeat(10_000), arr: Array.from({ length: 500 }, (_, i) => i) }) as {
      long: string;
      arr: unknown[];
    };
    expect(out.long.length).toBeLessThan(2_100);
    expect(out.arr.length).toBe(101);
    let deep: Record<string, unknown> = { v: 1 };
    for (let i = 0; i < 20; i++) deep = { d: deep };
    expect(JSON.stringify(s.value(deep))).toContain('nested too deep');
  });

  it('recognises sensitive key names', () => {
    for (const k of [
      'apiKey',
      'api_key',
      'X-Api-Key',
      'secret',
      'clientSecret',
      'password',
      'authorization',
      'key',
      'accessToken',
      'MCP_AUTH_TOKEN',
      'cookie',
    ])
      expect(isSensitiveKey(k), k).toBe(true);
    for (const k of [
      'inputTokens',
      'outputTokens',
      'idempotencyKey',
      'path',
      'command',
      'keys',
      'monkey',
      'tokenizer',
    ])
      expect(isSensitiveKey(k), k).toBe(false);
  });
});

describe('AuditLog', () => {
  it('stores scrubbed records', async () => {
    const rows: Array<Omit<AuditRecord, 'id'>> = [];
    const { logger } = collect();
    const audit = new AuditLog({
      store: { appendAudit: async (a) => void rows.push(a) },
      logger,
      secrets: [API_KEY],
    });
    await audit.record({
      actor: 'key:abc',
      action: 'session.create',
      target: 'ses_1',
      outcome: 'ok',
      details: { note: `key ${API_KEY}`, token: API_KEY },
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.action).toBe('session.create');
    expect(typeof rows[0]!.ts).toBe('string');
    expect(JSON.stringify(rows)).not.toContain(API_KEY);
  });

  it('never throws into the caller: a failing store is logged (without secrets)', async () => {
    const { lines, logger } = collect();
    const audit = new AuditLog({
      store: {
        appendAudit: async () => {
          throw new Error(`db down; dsn contains ${API_KEY}`);
        },
      },
      logger,
      secrets: [API_KEY],
    });
    await expect(audit.record({ actor: 'a', action: 'x', outcome: 'ok' })).resolves.toBeUndefined();
    const sync = new AuditLog({
      store: {
        appendAudit: () => {
          throw new Error('sync failure');
        },
      },
      logger,
    });
    await expect(sync.record({ actor: 'a', action: 'y', outcome: 'ok' })).resolves.toBeUndefined();
    await audit.flush();
    expect(lines.join('\n')).toContain('audit record could not be stored');
    expect(lines.join('\n')).not.toContain(API_KEY);
  });
});

describe('auditTools', () => {
  const ctx: ToolContext = {
    workspace: '/tmp/ws',
    runId: 'run_1',
    sessionId: 'ses_1',
    signal: new AbortController().signal,
    onOutput: () => {},
    env: {},
  };
  const tool = (name: string, impl: Tool['execute']): Tool => ({
    name,
    description: name,
    input: z.unknown(),
    execute: impl,
  });

  it('records each call with a summary, outcome and duration, and passes results and errors through', async () => {
    const rows: Array<Omit<AuditRecord, 'id'>> = [];
    const { logger } = collect();
    const audit = new AuditLog({
      store: { appendAudit: async (a) => void rows.push(a) },
      logger,
      secrets: [API_KEY],
    });
    const tools = auditTools(
      [
        tool('bash', async () => ({ output: 'ok', isError: false })),
        tool('fs', async () => ({ output: 'no such file', isError: true })),
        tool('boom', async () => {
          throw new Error('exploded');
        }),
      ],
      audit,
      { runId: 'run_1', sessionId: 'ses_1' },
    );
    const long = `echo ${API_KEY} ${'a'.repeat(1_000)}`;
    expect(await tools[0]!.execute({ command: long }, ctx)).toEqual({ output: 'ok', isError: false });
    expect(
      (await tools[1]!.execute({ operation: 'read', path: 'x.txt', content: 'hello' }, ctx)).isError,
    ).toBe(true);
    await expect(tools[2]!.execute({ a: 1 }, ctx)).rejects.toThrow('exploded');
    await audit.flush();
    expect(rows.map((r) => [r.action, r.outcome, r.details.tool])).toEqual([
      ['tool.call', 'ok', 'bash'],
      ['tool.call', 'error', 'fs'],
      ['tool.call', 'error', 'boom'],
    ]);
    const bash = rows[0]!;
    expect(bash.actor).toBe('agent');
    expect(bash.target).toBe('ses_1');
    expect(bash.details.runId).toBe('run_1');
    expect(bash.details.workspace).toBe('/tmp/ws');
    expect(typeof bash.details.durationMs).toBe('number');
    expect((bash.details.input as { command: string }).command.length).toBeLessThan(560);
    expect(JSON.stringify(rows)).not.toContain(API_KEY);
    expect(rows[1]!.details.input).toEqual({ operation: 'read', path: 'x.txt', contentBytes: 5 });
    expect(rows[2]!.details.error).toBe('exploded');
  });

  it('summarises inputs per tool', () => {
    expect(summarizeToolInput('git', { operation: 'push', repoUrl: 'https://x/y.git' })).toEqual({
      operation: 'push',
      repoUrl: 'https://x/y.git',
    });
    expect(summarizeToolInput('mcp__mem__save', { text: 'z'.repeat(500), tags: [1, 2], n: 3 })).toMatchObject(
      { tags: '[array of 2]', n: 3 },
    );
    expect(summarizeToolInput('x', 'not an object')).toEqual({ input: 'string' });
  });
});
