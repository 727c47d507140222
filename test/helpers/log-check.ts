// The whole suite's log check (issue 12: "no secret from the configuration appears in any log line
// during the whole test suite"). Every server a test starts through startTestServer logs at debug
// level through `capturedLogger`, and every child server's output is checked when it closes: each
// line is examined as it is written — valid JSON with `ts`, `level` and `msg`, and none of the
// secrets of that server's configuration in it — and only the problems are kept (no lines are
// stored, so memory stays flat). test/helpers/log-check.setup.ts fails the test file in afterAll
// when there are any. Secrets are the values of configSecrets(config) and of every variable whose
// name says it is one (isSensitiveKey: a setting added later is covered without touching this),
// from 6 characters up (shorter test values like "k" would match ordinary text).
import type { Config } from '../../src/config.ts';
import { configSecrets, isSensitiveKey } from '../../src/observability/audit.ts';
import { createLogger, type Logger } from '../../src/observability/logger.ts';

const MIN_SECRET = 6;
const LEVELS = new Set(['debug', 'info', 'warn', 'error']);
const problems: string[] = [];
let linesChecked = 0;

export function secretsOf(config: Config | undefined, env: Record<string, string | undefined>): string[] {
  const fromEnv = Object.entries(env)
    .filter(([k, v]) => isSensitiveKey(k) && typeof v === 'string')
    .flatMap(([k, v]) => (k === 'API_KEYS' ? (v as string).split(',') : [v as string]));
  const all = [...(config ? configSecrets(config) : []), ...fromEnv].map((s) => s.trim());
  return [...new Set(all.filter((s) => s.length >= MIN_SECRET))];
}

/** Shows which secret leaked without printing it. */
function masked(s: string): string {
  return `${s.slice(0, 2)}…(${s.length} chars)`;
}

/** Checks one line; `json` false for output that is not the logger's (a child's stderr). */
export function checkLine(label: string, line: string, secrets: readonly string[], json = true): void {
  if (line.trim() === '') return;
  linesChecked++;
  for (const s of secrets)
    if (line.includes(s))
      problems.push(
        `${label}: a log line contains the secret ${masked(s)}: ${line.split(s).join('<SECRET>').slice(0, 300)}`,
      );
  if (!json) return;
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    problems.push(`${label}: a log line is not JSON: ${line.slice(0, 200)}`);
    return;
  }
  const r = rec as Record<string, unknown>;
  if (typeof r.msg !== 'string' || typeof r.ts !== 'string' || !LEVELS.has(String(r.level)))
    problems.push(`${label}: a log line lacks ts/level/msg: ${line.slice(0, 200)}`);
}

/** A debug-level logger whose every line is checked against the server's secrets. */
export function capturedLogger(
  label: string,
  config: Config,
  env: Record<string, string | undefined>,
  onLine?: (line: string) => void,
): Logger {
  const secrets = secretsOf(config, env);
  return createLogger({
    level: 'debug',
    base: { service: 'agent-server' },
    redact: config.logRedact,
    secrets: configSecrets(config),
    write: (chunk) => {
      for (const line of chunk.split('\n')) {
        checkLine(label, line, secrets);
        if (line !== '') onLine?.(line);
      }
    },
  });
}

/** Both loggers get every line (a test's own logger, and the checked one). */
export function teeLogger(a: Logger, b: Logger): Logger {
  return {
    debug: (m, f) => {
      a.debug(m, f);
      b.debug(m, f);
    },
    info: (m, f) => {
      a.info(m, f);
      b.info(m, f);
    },
    warn: (m, f) => {
      a.warn(m, f);
      b.warn(m, f);
    },
    error: (m, f) => {
      a.error(m, f);
      b.error(m, f);
    },
    child: (f) => teeLogger(a.child(f), b.child(f)),
    enabled: (l) => (a.enabled?.(l) ?? true) || (b.enabled?.(l) ?? true),
  };
}

/** A child server's output: its stdout is JSON log lines; anything else is only checked for secrets. */
export function checkOutput(
  label: string,
  output: string,
  env: Record<string, string | undefined>,
  json = true,
): void {
  const secrets = secretsOf(undefined, env);
  for (const line of output.split('\n')) checkLine(label, line, secrets, json);
}

/** The problems found so far (and forgets them): the setup file's afterAll reports them. */
export function takeLogProblems(): { problems: string[]; linesChecked: number } {
  const out = { problems: problems.splice(0), linesChecked };
  linesChecked = 0;
  return out;
}
