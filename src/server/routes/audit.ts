// GET /api/audit: the audit log, newest first. (API actions are recorded by the services — see
// src/runs/actions.ts — so HTTP and WebSocket produce the same records.)
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import { Cursor, ErrorBody, Limit } from '../../protocol/index.ts';
import type { Store } from '../../store/types.ts';

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
        'auth.failed, auth.throttled (failed attempts refused with 429, counted per address and minute), session.create, session.delete, session.message, session.interrupt, workflow.create, workflow.cancel, approval.decide, tool.call',
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
