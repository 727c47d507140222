// The OpenTelemetry side of tracing.ts, loaded only when an OTLP endpoint is configured: a tracer
// provider of our own (never the global one: tests run several servers in one process), a batch
// processor and the OTLP/HTTP exporter (protobuf, or JSON with OTEL_EXPORTER_OTLP_PROTOCOL=http/json).
import {
  type Context,
  type Span as OtelSpan,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from '@opentelemetry/api';
import { type ExportResult, ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { Logger } from './logger.ts';
import type { Span, SpanAttributes, SpanOptions, Tracing, TracingConfig } from './tracing.ts';

/** Failed exports are logged (the SDK's own diag logger is process-global), at most once a minute. */
const FAILURE_LOG_EVERY_MS = 60_000;

class LoggedExporter implements SpanExporter {
  private readonly inner: SpanExporter;
  private readonly logger: Logger;
  private lastLogged = Number.NEGATIVE_INFINITY;
  private failures = 0;
  constructor(inner: SpanExporter, logger: Logger) {
    this.inner = inner;
    this.logger = logger;
  }
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.inner.export(spans, (r) => {
      if (r.code !== ExportResultCode.SUCCESS) {
        this.failures++;
        const now = Date.now();
        if (now - this.lastLogged >= FAILURE_LOG_EVERY_MS) {
          this.lastLogged = now;
          this.logger.warn('trace export failed', {
            spans: spans.length,
            failedExports: this.failures,
            error: r.error?.message ?? 'unknown',
          });
          this.failures = 0;
        }
      }
      done(r);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

const KIND = { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL } as const;

const getter: TextMapGetter<Record<string, string>> = {
  keys: (c) => Object.keys(c),
  get: (c, k) => c[k],
};

function clean(a: SpanAttributes): Record<string, string | number | boolean | string[]> {
  const out: Record<string, string | number | boolean | string[]> = {};
  for (const [k, v] of Object.entries(a)) if (v !== undefined) out[k] = v;
  return out;
}

class OtelSpanHandle implements Span {
  readonly span: OtelSpan;
  readonly traceparent: string;
  readonly traceId: string;
  constructor(span: OtelSpan) {
    this.span = span;
    const c = span.spanContext();
    this.traceId = c.traceId;
    this.traceparent = `00-${c.traceId}-${c.spanId}-0${(c.traceFlags & 1).toString(16)}`;
  }
  setAttributes(a: SpanAttributes): void {
    this.span.setAttributes(clean(a));
  }
  setName(name: string): void {
    this.span.updateName(name);
  }
  setError(message: string): void {
    this.span.setStatus({ code: SpanStatusCode.ERROR, message });
  }
  end(endTime?: number): void {
    this.span.end(endTime);
  }
}

export function createOtelTracing(config: TracingConfig & { tracesUrl: string }, logger: Logger): Tracing {
  const exporterConfig = { url: config.tracesUrl, headers: config.headers, timeoutMillis: 10_000 };
  const exporter = new LoggedExporter(
    config.protocol === 'http/json'
      ? new HttpJsonExporter(exporterConfig)
      : new ProtobufExporter(exporterConfig),
    logger.child({ component: 'tracing' }),
  );
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': config.serviceName,
      ...(config.serviceVersion ? { 'service.version': config.serviceVersion } : {}),
      ...(config.serviceInstanceId ? { 'service.instance.id': config.serviceInstanceId } : {}),
    }),
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [
      new BatchSpanProcessor({ exporter, scheduledDelayMillis: config.scheduleDelayMs, maxQueueSize: 4096 }),
    ],
  });
  const tracer = provider.getTracer('duyetbot-agent-server', config.serviceVersion);
  const propagator = new W3CTraceContextPropagator();

  const parentContext = (p: SpanOptions['parent']): Context => {
    if (p === undefined) return ROOT_CONTEXT;
    if (p instanceof OtelSpanHandle) return trace.setSpan(ROOT_CONTEXT, p.span);
    const tp = typeof p === 'string' ? p : p.traceparent;
    if (!tp) return ROOT_CONTEXT;
    return propagator.extract(ROOT_CONTEXT, { traceparent: tp }, getter);
  };

  return {
    enabled: true,
    startSpan(name, opts = {}) {
      const span = tracer.startSpan(
        name,
        {
          kind: KIND[opts.kind ?? 'internal'],
          ...(opts.attributes ? { attributes: clean(opts.attributes) } : {}),
          ...(opts.startTime !== undefined ? { startTime: opts.startTime } : {}),
        },
        parentContext(opts.parent),
      );
      return new OtelSpanHandle(span);
    },
    // A failed export is logged by LoggedExporter; flushing never fails the caller (a shutdown step).
    flush: () => provider.forceFlush().catch(() => {}),
    shutdown: () => provider.shutdown().catch(() => {}),
  };
}
