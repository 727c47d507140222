// "Off (zero cost) when no exporter is configured": the OpenTelemetry packages are imported by
// src/observability/otel.ts alone, and otel.ts only through a dynamic import() — so a server without
// an endpoint never loads the SDK. And the no-op tracer passes a valid incoming traceparent on.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createTracing, noopTracing } from '../../src/observability/tracing.ts';
import { moduleRefs, sourceFiles } from '../architecture/source.ts';

describe('tracing off', () => {
  it('only otel.ts imports @opentelemetry/*, and only tracing.ts loads otel.ts, dynamically', () => {
    const otelImports: string[] = [];
    const otelLoads: string[] = [];
    for (const f of sourceFiles()) {
      for (const r of moduleRefs(f)) {
        if (r.specifier.startsWith('@opentelemetry/') && r.kind !== 'type import')
          otelImports.push(`${f.rel}`);
        if (/(^|\/)otel\.ts$/.test(r.specifier)) otelLoads.push(`${f.rel} (${r.kind})`);
      }
    }
    expect([...new Set(otelImports)]).toEqual(['observability/otel.ts']);
    expect(otelLoads).toEqual(['observability/tracing.ts (dynamic import)']);
  });

  it('without an endpoint createTracing gives the no-op tracer, which passes a valid traceparent on', async () => {
    const tracing = await createTracing({ ...loadConfig({}).otel, serviceVersion: 'x' });
    expect(tracing).toBe(noopTracing);
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const span = tracing.startSpan('x', { parent: tp });
    expect(span.traceparent).toBe(tp);
    expect(span.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(tracing.startSpan('child', { parent: span }).traceparent).toBe(tp);
    expect(tracing.startSpan('y', { parent: 'not-a-traceparent' }).traceparent).toBeUndefined();
    expect(tracing.startSpan('z').traceparent).toBeUndefined();
  });
});
