// The audit log: who did what, when, with what outcome — auth failures, session and workflow
// actions, every tool call (recorded by src/tools/audit.ts). Stored through the store (table `audit`, read by GET /api/audit).
// Recording never fails the action being recorded: write errors are logged and swallowed.
// Nothing secret is stored: sensitive keys are masked, and values are scrubbed of the configured
// secrets and of anything that looks like a credential.
import type { Config } from '../config.ts';
import type { AuditRecord } from '../store/types.ts';
import type { Logger } from './logger.ts';

export type AuditOutcome = AuditRecord['outcome'];

export interface AuditEntry {
  /** `key:<hash prefix>`, `signed:tier1`, `anonymous`, `ip:<address>`, `agent`. */
  actor: string;
  /** `auth.failed`, `session.create`, `tool.call`, … */
  action: string;
  /** What the action was on: a session or workflow id, a path. */
  target?: string;
  outcome: AuditOutcome;
  details?: Record<string, unknown>;
}

export interface AuditSink {
  appendAudit(a: Omit<AuditRecord, 'id'>): Promise<void>;
}

export const REDACTED = '[redacted]';

/** The secrets of a configuration: never stored in the audit log or echoed anywhere. */
export function configSecrets(
  config: Pick<Config, 'apiKeys' | 'signingSecret' | 'anthropicApiKey' | 'mcpAuthToken' | 'githubToken'> &
    Partial<Pick<Config, 'githubApp' | 'mcpServers' | 'otel'>>,
): string[] {
  // Header values of MCP servers (bearer tokens) and the App's key are secrets too.
  const mcpHeaders = (config.mcpServers ?? []).flatMap((s) =>
    s.type === 'http' ? Object.values(s.headers) : [],
  );
  return [
    ...config.apiKeys,
    config.signingSecret,
    config.anthropicApiKey,
    config.mcpAuthToken,
    config.githubToken,
    config.githubApp?.privateKey,
    ...mcpHeaders,
    ...Object.values(config.otel?.headers ?? {}),
  ].filter((s): s is string => typeof s === 'string' && s.length > 0);
}

// --- scrubbing -------------------------------------------------------------------------------

const SENSITIVE_EXACT = new Set(['key', 'auth', 'pass', 'pwd', 'cookie', 'authorization', 'setcookie']);
const SENSITIVE_SUFFIX = [
  'token',
  'secret',
  'password',
  'passwd',
  'passphrase',
  'apikey',
  'accesskey',
  'privatekey',
  'signingkey',
  'secretkey',
  'credential',
  'credentials',
  'signature',
  'authorization',
  'cookie',
];
const SENSITIVE_ANYWHERE = ['secret', 'password', 'apikey', 'privatekey'];

/** Whether an object key names a secret (`apiKey`, `x-api-key`, `GITHUB_TOKEN`, `password`, `key`, …). */
export function isSensitiveKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_.\s]/g, '');
  if (SENSITIVE_EXACT.has(k)) return true;
  if (SENSITIVE_SUFFIX.some((s) => k.endsWith(s))) return true;
  return SENSITIVE_ANYWHERE.some((s) => k.includes(s));
}

// Values that look like credentials wherever they appear.
const VALUE_PATTERNS: Array<[RegExp, string]> = [
  // Authorization header values
  [/\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{4,}/gi, `$1 ${REDACTED}`],
  // `Authorization: …`, `X-Api-Key: …`, `--header "x-api-key=…"`
  [
    /\b(authorization|x-api-key|api-key|x-auth-token)(["']?\s*[:=]\s*["']?)(?!\[redacted\])[^\s"'&]+/gi,
    `$1$2${REDACTED}`,
  ],
  // NAME=value / name: value where the name ends in a secret word (GITHUB_TOKEN=…, password: …)
  [
    /\b([A-Za-z0-9_]*(?:password|passwd|secret|token|api_?key|apikey))(["']?\s*[=:]\s*)(["']?)(?!\[redacted\])[^\s"'&,;]+/gi,
    `$1$2$3${REDACTED}`,
  ],
  // credentials in URLs: scheme://user:pass@host, scheme://token@host
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@'"]+@/gi, `$1${REDACTED}@`],
  // secret-looking query parameters
  [
    /([?&](?:token|access_token|auth|api_key|apikey|key|secret|signature|password|sig)=)[^&\s#'"]+/gi,
    `$1${REDACTED}`,
  ],
  // well-known token formats
  [/\bsk-ant-[A-Za-z0-9_-]{8,}/g, REDACTED],
  [/\bsk-[A-Za-z0-9_-]{20,}/g, REDACTED],
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, REDACTED],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}/g, REDACTED],
  [/\bxox[abprs]-[A-Za-z0-9-]{10,}/g, REDACTED],
  [/\bAKIA[0-9A-Z]{16}\b/g, REDACTED],
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, REDACTED],
];

const MAX_STRING = 2_000;
const MAX_ITEMS = 100;
const MAX_DEPTH = 6;

export class SecretScrubber {
  private secrets: string[];
  constructor(secrets: Array<string | undefined> = []) {
    // Longest first so a secret containing another is masked whole. Very short values would mask
    // ordinary text and are not secrets worth the name; they are still masked by key.
    this.secrets = [
      ...new Set(secrets.filter((s): s is string => typeof s === 'string' && s.length >= 4)),
    ].sort((a, b) => b.length - a.length);
  }

  /** Masks secrets in a string. */
  text(s: string): string {
    let out = s;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    for (const [re, replacement] of VALUE_PATTERNS) out = out.replace(re, replacement);
    return out;
  }

  /** A scrubbed, bounded copy of a JSON-like value (sensitive keys masked, long strings cut). */
  value(v: unknown, depth = 0): unknown {
    if (typeof v === 'string') {
      const t = this.text(v.length > MAX_STRING ? v.slice(0, MAX_STRING) : v);
      return v.length > MAX_STRING ? `${t}…[${v.length - MAX_STRING} more chars]` : t;
    }
    if (v === null || typeof v === 'number' || typeof v === 'boolean') return v;
    if (typeof v === 'bigint') return v.toString();
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return undefined;
    if (v instanceof Date) return v.toISOString();
    if (v instanceof Error) return { name: v.name, message: this.text(v.message.slice(0, MAX_STRING)) };
    if (depth >= MAX_DEPTH) return '[nested too deep]';
    if (Array.isArray(v)) {
      const items = v.slice(0, MAX_ITEMS).map((x) => this.value(x, depth + 1));
      if (v.length > MAX_ITEMS) items.push(`…[${v.length - MAX_ITEMS} more items]`);
      return items;
    }
    if (typeof v === 'object') {
      const out: Record<string, unknown> = {};
      let n = 0;
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (n++ >= MAX_ITEMS) {
          out['…'] = 'more keys omitted';
          break;
        }
        const key = this.text(k.slice(0, 128));
        if (isSensitiveKey(k)) {
          if (x !== undefined && x !== null && x !== '') out[key] = REDACTED;
          continue;
        }
        const scrubbed = this.value(x, depth + 1);
        if (scrubbed !== undefined) out[key] = scrubbed;
      }
      return out;
    }
    return undefined;
  }

  details(d: Record<string, unknown> | undefined): Record<string, unknown> {
    const v = d === undefined ? {} : this.value(d);
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : { value: v };
  }
}

// --- the log ---------------------------------------------------------------------------------

export class AuditLog {
  private sink: AuditSink;
  private logger: Logger;
  readonly scrubber: SecretScrubber;
  private pending = new Set<Promise<void>>();

  constructor(opts: { store: AuditSink; logger: Logger; secrets?: Array<string | undefined> }) {
    this.sink = opts.store;
    this.logger = opts.logger;
    this.scrubber = new SecretScrubber(opts.secrets);
  }

  /** Stores one record. Never throws or rejects; the returned promise settles once it is written. */
  record(e: AuditEntry): Promise<void> {
    let p: Promise<void>;
    try {
      const rec: Omit<AuditRecord, 'id'> = {
        ts: new Date().toISOString(),
        actor: this.scrubber.text(String(e.actor).slice(0, 256)),
        action: String(e.action).slice(0, 128),
        ...(e.target === undefined ? {} : { target: this.scrubber.text(String(e.target).slice(0, 512)) }),
        outcome: e.outcome,
        details: this.scrubber.details(e.details),
      };
      p = this.sink.appendAudit(rec).catch((err: unknown) => this.failed(e, err));
    } catch (err) {
      p = Promise.resolve(this.failed(e, err));
    }
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    return p;
  }

  /** Waits for the records in flight (shutdown, tests). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private failed(e: AuditEntry, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.logger.error('audit record could not be stored', {
      action: e.action,
      outcome: e.outcome,
      error: this.scrubber.text(message),
    });
  }
}
