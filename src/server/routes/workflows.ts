// Workflows (docs/api.md §6): background tasks from Tier 1.
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../errors.ts';
import {
  ApprovalDecided,
  ApprovalDecisionRequest,
  CreateWorkflowRequest,
  Cursor,
  ErrorBody,
  Limit,
  Page,
  Workflow,
  WorkflowStatus,
  WorkflowType,
} from '../../protocol/index.ts';
import type { WorkflowService } from '../../runs/workflows.ts';
import { httpActor } from '../auth.ts';
import type { ServerDeps } from '../deps.ts';
import { eventsQuery, eventsResponse, serveEvents } from '../sse.ts';
import { ApprovalParams, errorResponses, IdParam, json, jsonBody } from './openapi-helpers.ts';

const errors = errorResponses;

const create = createRoute({
  method: 'post',
  path: '/api/workflows',
  tags: ['workflows'],
  summary:
    'Submit a background task; 202 with the pending workflow (200 with the existing one for a known idempotencyKey)',
  request: { body: jsonBody(CreateWorkflowRequest) },
  responses: {
    202: json(Workflow, 'accepted'),
    200: json(Workflow, 'the existing workflow for this idempotencyKey'),
    ...errors,
    503: json(ErrorBody, 'draining'),
  },
});
const list = createRoute({
  method: 'get',
  path: '/api/workflows',
  tags: ['workflows'],
  summary: 'List workflows, newest first',
  request: {
    query: z.object({
      status: WorkflowStatus.optional(),
      type: WorkflowType.optional(),
      limit: Limit,
      cursor: Cursor.optional(),
    }),
  },
  responses: { 200: json(Page(Workflow).openapi('WorkflowPage'), 'a page of workflows'), ...errors },
});
const get = createRoute({
  method: 'get',
  path: '/api/workflows/{id}',
  tags: ['workflows'],
  summary: 'Get a workflow (with its callback delivery state)',
  request: { params: IdParam },
  responses: { 200: json(Workflow, 'the workflow'), ...errors },
});
const cancel = createRoute({
  method: 'post',
  path: '/api/workflows/{id}/cancel',
  tags: ['workflows'],
  summary: 'Cancel: a pending workflow at once, a running one when its run has stopped',
  request: { params: IdParam },
  responses: { 202: json(Workflow, 'cancel accepted'), ...errors, 409: json(ErrorBody, 'already terminal') },
});
const events = createRoute({
  method: 'get',
  path: '/api/workflows/{id}/events',
  tags: ['workflows'],
  summary: "The workflow session's events (JSON page or SSE, as for sessions)",
  request: { params: IdParam, query: eventsQuery },
  responses: {
    200: eventsResponse("the workflow session's events: a page, or an SSE stream"),
    ...errors,
  },
});

const approve = createRoute({
  method: 'post',
  path: '/api/workflows/{id}/approvals/{approvalId}',
  tags: ['workflows', 'approvals'],
  summary: 'Decide a tool call that waits for approval in this workflow (its run goes on either way)',
  request: { params: ApprovalParams, body: jsonBody(ApprovalDecisionRequest) },
  responses: {
    200: json(ApprovalDecided, 'decided'),
    ...errors,
    409: json(ErrorBody, 'already decided'),
  },
});

export function workflowRoutes(deps: ServerDeps, workflows: WorkflowService) {
  return (app: OpenAPIHono) => {
    app.openapi(create, async (c) => {
      if (!deps.isAccepting())
        throw new AppError('unavailable', 'the server is shutting down and takes no new workflows', {
          retryAfterS: 5,
        });
      const { workflow, created } = await workflows.create(c.req.valid('json'), httpActor(c));
      return created ? c.json(workflow, 202) : c.json(workflow, 200);
    });
    app.openapi(list, async (c) => c.json(await workflows.list(c.req.valid('query')), 200));
    app.openapi(get, async (c) => c.json(await workflows.get(c.req.valid('param').id), 200));
    app.openapi(cancel, async (c) =>
      c.json(await workflows.cancel(c.req.valid('param').id, httpActor(c)), 202),
    );
    app.openapi(approve, async (c) => {
      const { id, approvalId } = c.req.valid('param');
      return c.json(
        await deps.approvals.decide({ workflowId: id }, approvalId, c.req.valid('json'), httpActor(c)),
        200,
      );
    });
    app.openapi(events, async (c) => {
      const wf = await workflows.get(c.req.valid('param').id);
      return serveEvents(c, deps, wf.sessionId, c.req.valid('query'));
    });
  };
}
