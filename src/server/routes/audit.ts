// GET /api/audit (the audit log, newest first) and the middleware that records API actions
// (session create/delete/message/interrupt, workflow create/cancel) with the credential as actor.
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AuditLog, AuditOutcome } from '../../observability/audit.ts';
import { Cursor, ErrorBody, Limit } from '../../protocol/index.ts';
import type { Store } from '../../store/types.ts';
import { ANONYMOUS, getCredential } from '../auth.ts';

const AuditOutcomeSchema = z.enum(['ok', 'error', 'denied']);

export const AuditRecordSchema = z
  .object({
    id: z.number().int(),
    ts: z.string(),
    actor: z.string().openapi({
      description:
        '`key:<hash prefix>`, `signed:tier1`, `anonymous`, `ip:<address>` (auth failures) or `agent` (tool calls)',
    }),
    action: z.string().openapi({
      description:
        'auth.failed, auth.throttled (failed attempts refused with 429, counted per address and minute), session.create, session.delete, session.message, session.interrupt, workflow.create, workflow.cancel, tool.call',
    }),
    target: z
      .string()
      .optional()
      .openapi({ description: 'session or workflow id; the path for auth failures' }),
    outcome: AuditOutcomeSchema,
    details: z.record(z.string(), z.unknown()),
  })
  .openapi('AuditRecord');

const AuditPage = z
  .object({ items: z.array(AuditRecordSchema), nextCursor: z.string().nullable() })
  .openapi('AuditPage');

const AuditQuery = z.object({
  action: z.string().min(1).max(128).optional(),
  actor: z.string().min(1).max(256).optional(),
  target: z.string().min(1).max(512).optional(),
  since: z
    .string()
    .min(1)
    .max(64)
    .refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 timestamp')
    .optional()
    .openapi({ description: 'only records at or after this time (ISO-8601)' }),
  limit: Limit,
  cursor: Cursor.optional(),
});

const list = createRoute({
  method: 'get',
  path: '/api/audit',
  tags: ['audit'],
  summary:
    'The audit log, newest first: auth failures, session and workflow actions, tool calls (no secrets)',
  request: { query: AuditQuery },
  responses: {
    200: { description: 'a page of audit records', content: { 'application/json': { schema: AuditPage } } },
    400: { description: 'invalid request', content: { 'application/json': { schema: ErrorBody } } },
    401: { description: 'unauthorized', content: { 'application/json': { schema: ErrorBody } } },
  },
});

export function auditRoutes(store: Pick<Store, 'listAudit'>) {
  return (app: OpenAPIHono) => {
    app.openapi(list, async (c) => {
      const q = c.req.valid('query');
      const page = await store.listAudit({
        limit: q.limit,
        cursor: q.cursor,
        action: q.action,
        actor: q.actor,
        target: q.target,
        since: q.since === undefined ? undefined : new Date(q.since).toISOString(),
      });
      return c.json({ items: page.items, nextCursor: page.nextCursor }, 200);
    });
  };
}

// --- recording API actions ---------------------------------------------------------------------

interface ActionRule {
  method: string;
  re: RegExp;
  action: string;
  /** The target comes from the response (the created object's id) rather than the path. */
  targetFromBody?: boolean;
}

const SEG = '([^/]+)';
const RULES: ActionRule[] = [
  { method: 'POST', re: /^\/api\/sessions\/?$/, action: 'session.create', targetFromBody: true },
  { method: 'DELETE', re: new RegExp(`^/api/sessions/${SEG}/?$`), action: 'session.delete' },
  { method: 'POST', re: new RegExp(`^/api/sessions/${SEG}/messages/?$`), action: 'session.message' },
  { method: 'POST', re: new RegExp(`^/api/sessions/${SEG}/interrupt/?$`), action: 'session.interrupt' },
  { method: 'POST', re: /^\/api\/workflows\/?$/, action: 'workflow.create', targetFromBody: true },
  { method: 'POST', re: new RegExp(`^/api/workflows/${SEG}/cancel/?$`), action: 'workflow.cancel' },
];

const outcomeOf = (status: number): AuditOutcome =>
  status < 400 ? 'ok' : status === 401 || status === 403 ? 'denied' : 'error';

async function readJson(res: Response): Promise<Record<string, unknown> | undefined> {
  try {
    const v: unknown = await res.clone().json();
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Records the API's state-changing actions after they ran (successful or not), with the admitting
 * credential as actor. Runs after the auth middleware; requests refused by auth never get here
 * (they are recorded as `auth.failed`).
 */
export function auditActions(audit: AuditLog): MiddlewareHandler {
  return async (c, next) => {
    const rule = RULES.find((r) => r.method === c.req.method && r.re.test(c.req.path));
    await next();
    if (!rule) return;
    try {
      const status = c.res.status;
      const body = await readJson(c.res);
      let target: string | undefined = c.req.path.match(rule.re)?.[1];
      if (target !== undefined) target = safeDecode(target);
      const details: Record<string, unknown> = { status };
      if (rule.targetFromBody && typeof body?.id === 'string') target = body.id;
      if (status >= 400) {
        const err = body?.error as { code?: unknown; message?: unknown } | undefined;
        if (err && typeof err.code === 'string')
          details.error = {
            code: err.code,
            message: typeof err.message === 'string' ? err.message.slice(0, 300) : undefined,
          };
      } else if (rule.action === 'session.message' && typeof body?.runId === 'string') {
        details.runId = body.runId;
      } else if (rule.action === 'session.interrupt' && typeof body?.runId === 'string') {
        details.runId = body.runId;
      } else if (rule.action === 'workflow.create') {
        details.created = status === 202;
        if (typeof body?.type === 'string') details.type = body.type;
        if (typeof body?.sessionId === 'string') details.sessionId = body.sessionId;
      } else if (rule.action === 'session.create' && typeof body?.engine === 'string') {
        details.engine = body.engine;
      }
      void audit.record({
        actor: getCredential(c) ?? ANONYMOUS,
        action: rule.action,
        target,
        outcome: outcomeOf(status),
        details,
      });
    } catch {
      // never let auditing change the response
    }
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
