// A collector that refuses spans is not silent: the failed export is logged (once a minute at most)
// with a coarse error, never the exporter's headers (they may hold a collector's credentials).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.ts';
import { createTracing } from '../../src/observability/tracing.ts';

describe('trace export failures', () => {
  let server: http.Server;
  let url = '';
  let hits = 0;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        hits++;
        res.writeHead(400, { 'Content-Type': 'text/plain' }).end('bad request');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('are logged once a minute with what failed, and the credentials stay out of the log', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'debug',
      write: (l) => lines.push(l),
      secrets: ['otlp-secret-token-1'],
    });
    const tracing = await createTracing(
      {
        tracesUrl: url,
        protocol: 'http/protobuf',
        serviceName: 't',
        headers: { authorization: 'Bearer otlp-secret-token-1' },
        scheduleDelayMs: 10_000,
      },
      logger,
    );
    for (let i = 0; i < 2; i++) {
      tracing.startSpan(`s${i}`).end();
      await tracing.flush();
    }
    await tracing.shutdown();
    expect(hits).toBe(2);
    const failed = lines.map((l) => JSON.parse(l)).filter((r) => r.msg === 'trace export failed');
    expect(failed).toHaveLength(1); // the second failure within the minute is counted, not logged
    expect(failed[0]).toMatchObject({ level: 'warn', component: 'tracing', spans: 1, failedExports: 1 });
    expect(typeof failed[0].error).toBe('string');
    expect(lines.join('')).not.toContain('otlp-secret-token-1');
  });
});
