import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, json, startTestServer, type TestServer } from '../helpers/server.ts';

describe('health, metrics and OpenAPI', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => server?.close());

  it('GET /health reports status, version, uptime and checks', async () => {
    const res = await api(server.url, 'GET', '/health');
    expect(res.status).toBe(200);
    const body = await json<{
      status: string;
      version: string;
      uptimeS: number;
      checks: Record<string, { status: string }>;
    }>(res);
    expect(body.status).toBe('ok');
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(typeof body.uptimeS).toBe('number');
    expect(body.checks.database?.status).toBe('ok');
    expect(body.checks.disk?.status).toBe('ok');
  });

  it('probes answer', async () => {
    expect((await api(server.url, 'GET', '/health/live')).status).toBe(200);
    expect((await api(server.url, 'GET', '/health/ready')).status).toBe(200);
  });

  it('GET /metrics is Prometheus text', async () => {
    const res = await api(server.url, 'GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('# TYPE agent_http_requests_total counter');
    expect(text).toContain('agent_runs_active');
  });

  it('GET /openapi.json is OpenAPI 3.1 covering the API', async () => {
    const doc = await json<{
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    }>(await api(server.url, 'GET', '/openapi.json'));
    expect(doc.openapi).toBe('3.1.0');
    for (const [p, m] of [
      ['/health', 'get'],
      ['/metrics', 'get'],
      ['/api/sessions', 'post'],
      ['/api/sessions', 'get'],
      ['/api/sessions/{id}', 'get'],
      ['/api/sessions/{id}', 'delete'],
      ['/api/sessions/{id}/messages', 'post'],
      ['/api/sessions/{id}/messages', 'get'],
      ['/api/sessions/{id}/interrupt', 'post'],
      ['/api/sessions/{id}/events', 'get'],
      ['/api/workflows', 'post'],
      ['/api/workflows', 'get'],
      ['/api/workflows/{id}', 'get'],
      ['/api/workflows/{id}/cancel', 'post'],
      ['/api/workflows/{id}/events', 'get'],
    ] as const) {
      expect(doc.paths[p]?.[m], `${m} ${p}`).toBeTruthy();
    }
    expect(doc.components.schemas.Session).toBeTruthy();
    expect(doc.components.schemas.Workflow).toBeTruthy();
    expect(doc.components.schemas.Error).toBeTruthy();
  });
});
