// The logger on pino: JSON lines with the documented fields, levels, child context, errors, and
// the two redaction layers — redact paths (built in and LOG_REDACT) and the scrub of configured
// secrets' values from the finished line, wherever they are (message, nested field, stack, escaped).
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger, LOG_CENSOR, type LoggerOptions } from '../../src/observability/logger.ts';
import { createServerLogger } from '../../src/runtime.ts';

function capture(opts: Partial<LoggerOptions> = {}) {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', write: (l) => lines.push(l), ...opts });
  const records = () => lines.flatMap((l) => l.split('\n').filter(Boolean)).map((l) => JSON.parse(l));
  return { logger, lines, records };
}

describe('logger', () => {
  it('writes one JSON object per line with ts, level, msg, base and child fields', () => {
    const { logger, lines, records } = capture({ base: { service: 'agent-server' } });
    logger.child({ runId: 'run_1' }).child({ sessionId: 's_1' }).info('run started', { attempt: 1 });
    logger.warn('plain');
    expect(lines.every((l) => l.endsWith('\n') && l.indexOf('\n') === l.length - 1)).toBe(true);
    const [a, b] = records();
    expect(a).toMatchObject({
      level: 'info',
      msg: 'run started',
      service: 'agent-server',
      runId: 'run_1',
      sessionId: 's_1',
      attempt: 1,
    });
    expect(Number.isNaN(Date.parse(a.ts))).toBe(false);
    expect(a.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(b).toMatchObject({ level: 'warn', msg: 'plain' });
    expect(Object.keys(b)).not.toContain('pid');
  });

  it('filters by level and says so through enabled()', () => {
    const { logger, records } = capture({ level: 'warn' });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(records().map((r) => r.level)).toEqual(['warn', 'error']);
    expect(logger.enabled?.('info')).toBe(false);
    expect(logger.enabled?.('error')).toBe(true);
  });

  it('serializes errors under err (and a coded error value as it is)', () => {
    const { logger, records } = capture();
    logger.error('boom', { err: new TypeError('bad thing') });
    logger.warn('failed', { error: { code: 'llm_error', message: 'x' } });
    const [a, b] = records();
    expect(a.err).toMatchObject({ type: 'TypeError', message: 'bad thing' });
    expect(a.err.stack).toContain('TypeError: bad thing');
    expect(b.error).toEqual({ code: 'llm_error', message: 'x' });
  });

  it('scrubs configured secrets from every part of the line, escaped forms too', () => {
    const secret = 'sk-ant-FAKE-0123456789';
    const quoted = 'pa"ss\\word-42';
    const { logger, lines } = capture({ secrets: [secret, quoted, 'abc'] });
    logger.info(`key is ${secret}`, {
      nested: { deep: [`Bearer ${secret}`] },
      err: new Error(`request failed with ${secret}`),
      q: quoted,
      short: 'abc', // under 4 characters: not treated as a secret
    });
    const text = lines.join('');
    expect(text).not.toContain(secret);
    expect(text).not.toContain(JSON.stringify(quoted).slice(1, -1));
    expect(text.split(LOG_CENSOR).length - 1).toBeGreaterThanOrEqual(4);
    expect(JSON.parse(text).short).toBe('abc');
    // The scrub is what removes it: without the secrets the same line leaks.
    const bare = capture();
    bare.logger.info(`key is ${secret}`);
    expect(bare.lines.join('')).toContain(secret);
  });

  it('censors secret-bearing paths, and the paths of LOG_REDACT', () => {
    const { logger, records } = capture({ redact: ['payload.password', 'creds[*].pin'] });
    logger.info('req', {
      headers: { authorization: 'Bearer abc.def', 'x-api-key': 'k-123', accept: 'json' },
      body: { token: 't-1', apiKey: 'a-1', name: 'ok' },
      payload: { password: 'hunter2', user: 'me' },
      creds: [{ pin: '1234', id: 'c1' }],
    });
    const [r] = records();
    expect(r.headers).toEqual({ authorization: LOG_CENSOR, 'x-api-key': LOG_CENSOR, accept: 'json' });
    expect(r.body).toEqual({ token: LOG_CENSOR, apiKey: LOG_CENSOR, name: 'ok' });
    expect(r.payload).toEqual({ password: LOG_CENSOR, user: 'me' });
    expect(r.creds).toEqual([{ pin: LOG_CENSOR, id: 'c1' }]);
  });

  it('LOG_PRETTY gives human lines, still scrubbed; bad LOG_REDACT paths stop the start', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      pretty: true,
      secrets: ['pretty-secret-999'],
      write: (l) => lines.push(l),
    });
    logger.info('hello pretty-secret-999', { runId: 'run_9' });
    const text = lines.join('');
    expect(text).toContain('INFO');
    expect(text).toContain('hello');
    expect(text).toContain('run_9');
    expect(text).not.toContain('pretty-secret-999');
    expect(() => JSON.parse(text)).toThrow();
    expect(() => loadConfig({ LOG_REDACT: 'a..b' })).toThrow(/LOG_REDACT/);
    expect(() => loadConfig({ LOG_REDACT: 'x-api-key' })).toThrow(/LOG_REDACT/);
    expect(loadConfig({ LOG_REDACT: 'payload.password, headers["x-key"],*.pin' }).logRedact).toEqual([
      'payload.password',
      'headers["x-key"]',
      '*.pin',
    ]);
  });

  it("the server's logger scrubs every configured secret (API keys, signing secret, tokens, OTLP headers)", () => {
    const config = loadConfig({
      API_KEYS: 'api-key-one-1234,api-key-two-5678',
      SIGNING_SECRET: 'signing-secret-abcdef',
      ANTHROPIC_API_KEY: 'sk-ant-config-0000',
      GITHUB_TOKEN: 'ghp_configtoken000000000',
      MCP_AUTH_TOKEN: 'mcp-token-xyz-123',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Basic%20b3RlbC1zZWNyZXQ%3D',
      LOG_LEVEL: 'debug',
    });
    const secrets = [
      'api-key-one-1234',
      'api-key-two-5678',
      'signing-secret-abcdef',
      'sk-ant-config-0000',
      'ghp_configtoken000000000',
      'mcp-token-xyz-123',
      'Basic b3RlbC1zZWNyZXQ=',
    ];
    const lines: string[] = [];
    const logger = createServerLogger(config, (l) => lines.push(l));
    logger.info(secrets.join(' | '), { all: secrets, err: new Error(`failed: ${secrets[2]}`) });
    logger.child({ runId: 'r' }).debug('again', { headers: { 'x-signature': 'sha256=00' }, v: secrets[0] });
    const text = lines.join('');
    expect(lines).toHaveLength(2);
    for (const s of secrets) expect(text).not.toContain(s);
    expect(JSON.parse(lines[0]!).service).toBe('agent-server');
    expect(JSON.parse(lines[1]!).headers['x-signature']).toBe(LOG_CENSOR);
  });
});
