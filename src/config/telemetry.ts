// Telemetry settings: the standard OTEL_* variables for trace export and LOG_REDACT's field paths.
import { bool, ConfigError, type Env, int, list, opt, parseHttpUrl } from './parse.ts';

/** Trace export (src/observability/tracing.ts), from the standard OTEL_* variables. */
export interface OtelConfig {
  /** Where spans are POSTed; undefined = tracing off. */
  tracesUrl?: string;
  protocol: 'http/protobuf' | 'http/json';
  serviceName: string;
  /** OTEL_EXPORTER_OTLP_HEADERS (+ _TRACES_HEADERS): sent with every export (a collector's credentials). */
  headers: Record<string, string>;
  /** OTEL_BSP_SCHEDULE_DELAY: ms between two exports. */
  scheduleDelayMs: number;
}

/** `k1=v1,k2=v2` with URL-encoded values (the OTEL_EXPORTER_OTLP_HEADERS format). */
export function otlpHeaders(env: Env, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of list(env, name)) {
    const i = pair.indexOf('=');
    const key = i > 0 ? pair.slice(0, i).trim() : '';
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(key))
      throw new ConfigError(`${name} must be a comma list of key=value pairs`);
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(i + 1).trim());
    } catch {
      throw new ConfigError(`${name}: the value of "${key}" is not URL-encoded`);
    }
    if (/[\r\n]/.test(value)) throw new ConfigError(`${name}: the value of "${key}" has a line break`);
    out[key] = value;
  }
  return out;
}

/** pino redact paths: dotted names, `*` wildcards and bracketed keys. */
export function redactPaths(env: Env, name: string): string[] {
  const paths = list(env, name);
  const bad = paths.find(
    (p) =>
      !/^(?:[A-Za-z_$*][\w$*]*|\[(?:"[^"]+"|'[^']+'|\*)\])(?:\.[A-Za-z_$*][\w$*]*|\[(?:"[^"]+"|'[^']+'|\*)\])*$/.test(
        p,
      ),
  );
  if (bad !== undefined)
    throw new ConfigError(
      `${name}: "${bad}" is not a field path (e.g. payload.password, *.token, headers["x-key"])`,
    );
  return paths;
}

export function otlpUrl(env: Env, name: string): string | undefined {
  const raw = opt(env, name)?.trim();
  if (raw === undefined || raw === '') return undefined;
  return parseHttpUrl(name, raw, 'an http(s) URL (OTLP over HTTP)').toString();
}

/** The standard OTEL_* variables this server honours (traces over OTLP/HTTP only). */
export function otelConfig(env: Env): OtelConfig {
  const disabled = bool(env, 'OTEL_SDK_DISABLED', false);
  const tracesEndpoint = otlpUrl(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const base = otlpUrl(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  // The generic endpoint gets the signal path appended; the per-signal one is used as is.
  const tracesUrl = tracesEndpoint ?? (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  const protocol =
    opt(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ??
    opt(env, 'OTEL_EXPORTER_OTLP_PROTOCOL') ??
    'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json')
    throw new ConfigError(
      `OTEL_EXPORTER_OTLP_PROTOCOL must be "http/protobuf" or "http/json" (gRPC is not supported), got "${protocol}"`,
    );
  return {
    ...(tracesUrl && !disabled ? { tracesUrl } : {}),
    protocol,
    serviceName: opt(env, 'OTEL_SERVICE_NAME') ?? 'duyetbot-agent-server',
    headers: {
      ...otlpHeaders(env, 'OTEL_EXPORTER_OTLP_HEADERS'),
      ...otlpHeaders(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'),
    },
    scheduleDelayMs: int(env, 'OTEL_BSP_SCHEDULE_DELAY', 5_000, 1),
  };
}
