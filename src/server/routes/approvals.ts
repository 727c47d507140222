// GET /api/approvals (docs/api.md §10): tool calls waiting for a decision, and decided ones, newest
// first. Decisions go through the session's or the workflow's route (routes/sessions.ts,
// routes/workflows.ts) or the WebSocket `approve` frame.
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import { Approval, ApprovalStatus, Cursor, Limit, Page } from '../../protocol/index.ts';
import type { ApprovalService } from '../../runs/approvals.ts';
import { errorResponses, json } from './openapi-helpers.ts';

const list = createRoute({
  method: 'get',
  path: '/api/approvals',
  tags: ['approvals'],
  summary: 'Approvals, newest first: `pending` ones wait for a decision',
  request: {
    query: z.object({ status: ApprovalStatus.optional(), limit: Limit, cursor: Cursor.optional() }),
  },
  responses: { 200: json(Page(Approval).openapi('ApprovalPage'), 'a page of approvals'), ...errorResponses },
});

export function approvalRoutes(approvals: ApprovalService) {
  return (app: OpenAPIHono) => {
    app.openapi(list, async (c) => c.json(await approvals.list(c.req.valid('query')), 200));
  };
}
