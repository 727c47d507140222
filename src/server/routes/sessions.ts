// Sessions (docs/api.md §5): interactive, multi-turn conversations with a workspace.
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../errors.ts';
import {
  ApprovalDecided,
  ApprovalDecisionRequest,
  CreateSessionRequest,
  Cursor,
  ErrorBody,
  Limit,
  Message,
  MessageAccepted,
  Page,
  SendMessageRequest,
  Session,
  SessionStatus,
} from '../../protocol/index.ts';
import { toSession } from '../../runs/sessions.ts';
import { httpActor } from '../auth.ts';
import type { ServerDeps } from '../deps.ts';
import { eventsQuery, eventsResponse, serveEvents } from '../sse.ts';
import { ApprovalParams, errorResponses, IdParam, json, jsonBody } from './openapi-helpers.ts';

const errors = errorResponses;
const body = jsonBody;

const create = createRoute({
  method: 'post',
  path: '/api/sessions',
  tags: ['sessions'],
  summary: 'Create a session (optionally on a repository, cloned before the first run)',
  request: { body: body(CreateSessionRequest) },
  responses: { 201: json(Session, 'created'), ...errors },
});
const list = createRoute({
  method: 'get',
  path: '/api/sessions',
  tags: ['sessions'],
  summary: 'List sessions, newest first',
  request: { query: z.object({ status: SessionStatus.optional(), limit: Limit, cursor: Cursor.optional() }) },
  responses: { 200: json(Page(Session).openapi('SessionPage'), 'a page of sessions'), ...errors },
});
const get = createRoute({
  method: 'get',
  path: '/api/sessions/{id}',
  tags: ['sessions'],
  summary: 'Get a session',
  request: { params: IdParam },
  responses: { 200: json(Session, 'the session'), ...errors },
});
const del = createRoute({
  method: 'delete',
  path: '/api/sessions/{id}',
  tags: ['sessions'],
  summary: 'Delete a session: stops its run and removes its workspace',
  request: { params: IdParam },
  responses: { 204: { description: 'deleted' }, ...errors, 409: json(ErrorBody, 'owned by a workflow') },
});
const messages = createRoute({
  method: 'get',
  path: '/api/sessions/{id}/messages',
  tags: ['sessions'],
  summary: 'The conversation: user and assistant messages in order',
  request: { params: IdParam },
  responses: {
    200: json(z.object({ items: z.array(Message) }).openapi('MessageList'), 'messages'),
    ...errors,
  },
});
const send = createRoute({
  method: 'post',
  path: '/api/sessions/{id}/messages',
  tags: ['sessions'],
  summary: 'Send a message: queues a run (behind an active one); output arrives as events',
  request: { params: IdParam, body: body(SendMessageRequest) },
  responses: {
    202: json(MessageAccepted, 'queued'),
    ...errors,
    409: json(ErrorBody, 'session owned by a workflow'),
    503: json(ErrorBody, 'draining'),
  },
});
const interrupt = createRoute({
  method: 'post',
  path: '/api/sessions/{id}/interrupt',
  tags: ['sessions'],
  summary: 'Stop the active run; the session stays usable',
  request: { params: IdParam },
  responses: {
    202: json(z.object({ sessionId: z.string(), runId: z.string().optional() }), 'interrupt requested'),
    ...errors,
  },
});
const events = createRoute({
  method: 'get',
  path: '/api/sessions/{id}/events',
  tags: ['sessions'],
  summary:
    'Events after `after`; with follow=true or Accept: text/event-stream, a live SSE stream (Last-Event-ID wins over after)',
  request: { params: IdParam, query: eventsQuery },
  responses: {
    200: eventsResponse('a page of events, or an SSE stream (id = seq, event = type, data = the event JSON)'),
    ...errors,
  },
});

const approve = createRoute({
  method: 'post',
  path: '/api/sessions/{id}/approvals/{approvalId}',
  tags: ['sessions', 'approvals'],
  summary: 'Decide a tool call that waits for approval in this session (its run goes on either way)',
  request: { params: ApprovalParams, body: body(ApprovalDecisionRequest) },
  responses: {
    200: json(ApprovalDecided, 'decided'),
    ...errors,
    409: json(ErrorBody, 'already decided'),
  },
});

export function registerSessionRoutes(app: OpenAPIHono, deps: ServerDeps): void {
  const { sessions } = deps;
  app.openapi(create, async (c) => c.json(await sessions.create(c.req.valid('json'), httpActor(c)), 201));
  app.openapi(list, async (c) => c.json(await sessions.list(c.req.valid('query')), 200));
  app.openapi(get, async (c) => c.json(toSession(await sessions.get(c.req.valid('param').id)), 200));
  app.openapi(del, async (c) => {
    await sessions.delete(c.req.valid('param').id, httpActor(c));
    return c.body(null, 204);
  });
  app.openapi(messages, async (c) =>
    c.json({ items: await sessions.messages(c.req.valid('param').id) }, 200),
  );
  app.openapi(send, async (c) => {
    const { id } = c.req.valid('param');
    const { content, idempotencyKey, mode } = c.req.valid('json');
    if (!deps.isAccepting())
      throw new AppError('unavailable', 'the server is shutting down and takes no new runs', {
        retryAfterS: 5,
      });
    const r = await sessions.send(id, content, idempotencyKey, httpActor(c), mode);
    return c.json({ sessionId: r.sessionId, runId: r.runId }, 202);
  });
  app.openapi(interrupt, async (c) => {
    const { id } = c.req.valid('param');
    const r = await sessions.interrupt(id, httpActor(c));
    return c.json({ sessionId: id, ...r }, 202);
  });
  app.openapi(approve, async (c) => {
    const { id, approvalId } = c.req.valid('param');
    return c.json(
      await deps.approvals.decide({ sessionId: id }, approvalId, c.req.valid('json'), httpActor(c)),
      200,
    );
  });
  app.openapi(events, async (c) => {
    const { id } = c.req.valid('param');
    await sessions.get(id);
    return serveEvents(c, deps, id, c.req.valid('query'));
  });
}
