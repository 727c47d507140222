// The observability settings of src/config.ts: the standard OTEL_* variables (endpoint → /v1/traces,
// the per-signal endpoint as is, protocol, headers, disable), LOG_*, STATS_MAX_SAMPLES and
// WORKSPACE_USAGE_INTERVAL_MS — and the ConfigError a bad value gives.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { configSecrets } from '../../src/observability/audit.ts';
import { parseTraceparent } from '../../src/observability/tracing.ts';

describe('OTEL_* settings', () => {
  it('tracing is off by default; the generic endpoint gets /v1/traces, the traces endpoint is used as is', () => {
    const off = loadConfig({});
    expect(off.otel).toEqual({
      protocol: 'http/protobuf',
      serviceName: 'duyetbot-agent-server',
      headers: {},
      scheduleDelayMs: 5000,
    });
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).otel.tracesUrl).toBe(
      'http://collector:4318/v1/traces',
    );
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c.example/otlp/' }).otel.tracesUrl).toBe(
      'https://c.example/otlp/v1/traces',
    );
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:9999/custom/path',
      }).otel.tracesUrl,
    ).toBe('http://b:9999/custom/path');
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_SDK_DISABLED: 'true' }).otel.tracesUrl,
    ).toBeUndefined();
  });

  it('protocol, service name, headers (URL-decoded, secrets) and the export delay', () => {
    const c = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'tier2',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20otlp-secret-1,x-tenant=a',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-tenant=b',
      OTEL_BSP_SCHEDULE_DELAY: '250',
    });
    expect(c.otel).toMatchObject({
      protocol: 'http/json',
      serviceName: 'tier2',
      headers: { authorization: 'Bearer otlp-secret-1', 'x-tenant': 'b' },
      scheduleDelayMs: 250,
    });
    expect(configSecrets(c)).toContain('Bearer otlp-secret-1');
    expect(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }).otel.protocol).toBe('http/json');
  });

  it('refuses what it cannot do, naming the variable', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, /OTEL_EXPORTER_OTLP_PROTOCOL.*gRPC/],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' }, /OTEL_EXPORTER_OTLP_ENDPOINT/],
      [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://x/' }, /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT/],
      [{ OTEL_EXPORTER_OTLP_HEADERS: 'novalue' }, /OTEL_EXPORTER_OTLP_HEADERS/],
      [{ OTEL_EXPORTER_OTLP_HEADERS: 'a=%ZZ' }, /OTEL_EXPORTER_OTLP_HEADERS/],
      [{ OTEL_EXPORTER_OTLP_HEADERS: 'a=b%0Ac' }, /line break/],
      [{ OTEL_SDK_DISABLED: 'maybe' }, /OTEL_SDK_DISABLED/],
      [{ OTEL_BSP_SCHEDULE_DELAY: '0' }, /OTEL_BSP_SCHEDULE_DELAY/],
      [{ STATS_MAX_SAMPLES: '10' }, /STATS_MAX_SAMPLES/],
      [{ WORKSPACE_USAGE_INTERVAL_MS: '-1' }, /WORKSPACE_USAGE_INTERVAL_MS/],
      [{ LOG_PRETTY: 'sure' }, /LOG_PRETTY/],
    ];
    for (const [env, re] of bad) {
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(ConfigError);
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(re);
    }
  });

  it('other observability settings have their defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      logPretty: false,
      logRedact: [],
      statsMaxSamples: 10_000,
      workspaceUsageIntervalMs: 300_000,
    });
  });
});

describe('parseTraceparent', () => {
  it('accepts version 00 in lower-case hex with non-zero ids, nothing else', () => {
    const t = '4bf92f3577b34da6a3ce929d0e0e4736';
    const s = '00f067aa0ba902b7';
    expect(parseTraceparent(`00-${t}-${s}-01`)).toEqual({ traceId: t, spanId: s, flags: '01' });
    for (const bad of [
      undefined,
      '',
      `01-${t}-${s}-01`,
      `00-${t.toUpperCase()}-${s}-01`,
      `00-${'0'.repeat(32)}-${s}-01`,
      `00-${t}-${'0'.repeat(16)}-01`,
      `00-${t}-${s}`,
      `00-${t}-${s}-01-extra`,
    ])
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
  });
});
