// Structured JSON logs, one object per line, on pino. The `Logger` interface (message first, then
// fields) stays the server's own so call sites and tests do not depend on pino's argument order.
//
// Every line carries `ts` (ISO-8601), `level` (a word), `msg` and the fields of its context
// (`service`, `component`, `requestId`, `sessionId`, `runId`, `workflowId`, `traceId`, …).
// Secrets never reach the output: pino's `redact` censors known secret-bearing paths (and the ones
// of LOG_REDACT), and every finished line is scrubbed of the configured secrets' values (API keys,
// signing secret, tokens), wherever they hide — a message, an error's stack, a nested field.
import { createRequire } from 'node:module';
import { type DestinationStream, type LoggerOptions as PinoOptions, pino, stdSerializers } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  /** Whether a line of this level would be written (skip building costly fields when not). */
  enabled?(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level: LogLevel;
  base?: Record<string, unknown>;
  /** Where finished lines go (tests capture them); default stdout. */
  write?: (line: string) => void;
  /** Human-readable lines through pino-pretty (LOG_PRETTY), for a terminal. */
  pretty?: boolean;
  /** Extra pino redact paths (LOG_REDACT), e.g. `payload.password`, `*.token`. */
  redact?: string[];
  /** Values scrubbed from every line (configSecrets(config)); shorter than 4 characters are ignored. */
  secrets?: Array<string | undefined>;
}

/**
 * Paths censored in every line whatever their value: headers and fields that hold credentials.
 * (pino's redaction is path-based; the value scrub below catches secrets anywhere else.)
 */
export const DEFAULT_REDACT_PATHS: readonly string[] = [
  'authorization',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'headers["x-signature"]',
  '*.authorization',
  '*.apiKey',
  '*.token',
  '*.secret',
  '*.password',
  'apiKey',
  'token',
  'secret',
  'password',
];

export const LOG_CENSOR = '[redacted]';

/** Replaces each secret (raw and as it appears inside a JSON string) in a finished line. */
export function lineScrubber(secrets: Array<string | undefined>): ((line: string) => string) | undefined {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (typeof s !== 'string' || s.length < 4) continue;
    forms.add(s);
    forms.add(JSON.stringify(s).slice(1, -1)); // quotes, backslashes, control characters escaped
  }
  const list = [...forms].sort((a, b) => b.length - a.length);
  if (list.length === 0) return undefined;
  return (line) => {
    let out = line;
    for (const s of list) if (out.includes(s)) out = out.split(s).join(LOG_CENSOR);
    return out;
  };
}

/** pino-pretty's formatter, loaded only when asked for (a terminal); lines stay synchronous. */
function prettyStream(write: (line: string) => void, colorize: boolean): DestinationStream {
  const require = createRequire(import.meta.url);
  const { prettyFactory } = require('pino-pretty') as {
    prettyFactory: (o: Record<string, unknown>) => (line: string) => string;
  };
  const format = prettyFactory({
    colorize,
    timestampKey: 'ts',
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
  return { write: (line: string) => write(format(line)) };
}

function destination(opts: LoggerOptions): DestinationStream {
  const scrub = lineScrubber(opts.secrets ?? []);
  const out: DestinationStream = opts.write
    ? { write: opts.write }
    : pino.destination({ dest: 1, sync: true });
  const sink = opts.pretty
    ? prettyStream((l) => out.write(l), !opts.write && process.stdout.isTTY === true)
    : out;
  if (!scrub) return sink;
  return { write: (line: string) => sink.write(scrub(line)) };
}

export function createLogger(opts: LoggerOptions): Logger {
  const options: PinoOptions = {
    level: opts.level,
    base: opts.base ?? {},
    messageKey: 'msg',
    // `ts`, as the lines always had (docs/operations.md).
    timestamp: () => `,"ts":"${new Date().toISOString()}"`,
    serializers: { err: stdSerializers.err, error: errOrValue },
    redact: { paths: [...DEFAULT_REDACT_PATHS, ...(opts.redact ?? [])], censor: LOG_CENSOR },
    // Level words in JSON (`"level":"info"`); pino-pretty reads pino's numbers.
    ...(opts.pretty ? {} : { formatters: { level: (label: string) => ({ level: label }) } }),
  };
  return wrap(pino(options, destination(opts)));
}

/** `error` fields hold either an Error or a coded value ({code, message}); only Errors are serialized. */
function errOrValue(v: unknown): unknown {
  return v instanceof Error ? stdSerializers.err(v) : v;
}

function wrap(p: pino.Logger): Logger {
  return {
    debug: (msg, fields) => (fields ? p.debug(fields, msg) : p.debug(msg)),
    info: (msg, fields) => (fields ? p.info(fields, msg) : p.info(msg)),
    warn: (msg, fields) => (fields ? p.warn(fields, msg) : p.warn(msg)),
    error: (msg, fields) => (fields ? p.error(fields, msg) : p.error(msg)),
    child: (fields) => wrap(p.child(fields)),
    enabled: (level) => p.isLevelEnabled(level),
  };
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
  enabled: () => false,
};
