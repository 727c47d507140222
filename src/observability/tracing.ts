// Traces (docs/api.md §11): a span per HTTP request, run, model call (GenAI conventions) and tool
// call, exported over OTLP/HTTP (protobuf or JSON) when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set.
//
// Parents are passed explicitly — a span object, or a W3C `traceparent` string kept with a run in
// the store — never through an async context: a run starts on whichever instance claims it, long
// after its request ended, and explicit parents cost nothing when tracing is off.
//
// Off (no endpoint): the OpenTelemetry SDK is not even loaded (otel.ts is imported on demand);
// spans are no-ops that only pass an incoming `traceparent` along, so a callback still carries the
// trace id of the Tier 1 request that started the workflow.
import { type Logger, silentLogger } from './logger.ts';

export type SpanAttributes = Record<string, string | number | boolean | string[] | undefined>;

export interface Span {
  /** W3C `traceparent` for a child elsewhere (a stored run, a callback header); undefined when none. */
  readonly traceparent: string | undefined;
  readonly traceId: string | undefined;
  setAttributes(a: SpanAttributes): void;
  setName(name: string): void;
  /** Status ERROR with a short, secret-free description. */
  setError(message: string): void;
  /** Ends the span now, or at `endTime` (epoch ms). */
  end(endTime?: number): void;
}

export interface SpanOptions {
  kind?: 'server' | 'client' | 'internal';
  attributes?: SpanAttributes;
  /** A span of this process, or a W3C traceparent (an incoming header, a stored run's). */
  parent?: Span | string;
  /** Epoch ms (a model call the engine learns of after it started). */
  startTime?: number;
}

export interface Tracing {
  readonly enabled: boolean;
  startSpan(name: string, opts?: SpanOptions): Span;
  /** Exports what is buffered (tests; shutdown). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface TracingConfig {
  /** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, or OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces`. */
  tracesUrl?: string;
  protocol: 'http/protobuf' | 'http/json';
  serviceName: string;
  serviceVersion?: string;
  serviceInstanceId?: string;
  headers: Record<string, string>;
  /** Delay between two exports of the batch processor (OTEL_BSP_SCHEDULE_DELAY). */
  scheduleDelayMs: number;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A valid version-00 W3C traceparent (lower-case hex, ids not all zero), or undefined. */
export function parseTraceparent(
  value: string | undefined | null,
): { traceId: string; spanId: string; flags: string } | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return undefined;
  const [, traceId, spanId, flags] = m as unknown as [string, string, string, string];
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, flags };
}

export function traceIdOf(traceparent: string | undefined): string | undefined {
  return parseTraceparent(traceparent)?.traceId;
}

/** The span of a disabled tracer: carries its parent's traceparent along, records nothing. */
class PassThroughSpan implements Span {
  readonly traceparent: string | undefined;
  readonly traceId: string | undefined;
  constructor(traceparent: string | undefined) {
    this.traceparent = traceparent;
    this.traceId = traceIdOf(traceparent);
  }
  setAttributes(): void {}
  setName(): void {}
  setError(): void {}
  end(): void {}
}
const EMPTY_SPAN = new PassThroughSpan(undefined);

export const noopTracing: Tracing = {
  enabled: false,
  startSpan(_name, opts) {
    const p = opts?.parent;
    const tp = typeof p === 'string' ? (parseTraceparent(p) ? p : undefined) : p?.traceparent;
    return tp === undefined ? EMPTY_SPAN : new PassThroughSpan(tp);
  },
  flush: async () => {},
  shutdown: async () => {},
};

/** The configured tracer: the OTLP exporter when an endpoint is set, else the no-op one. */
export async function createTracing(config: TracingConfig, logger: Logger = silentLogger): Promise<Tracing> {
  if (!config.tracesUrl) return noopTracing;
  const { createOtelTracing } = await import('./otel.ts');
  return createOtelTracing({ ...config, tracesUrl: config.tracesUrl }, logger);
}
