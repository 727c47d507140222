// Session use cases: create, list, read, delete, send a message (→ a queued run), interrupt.
// Everything goes to the store first; then the lifecycle bus is told (the scheduler picks the run
// up, the instance running a run stops it). Each state-changing call is an audited action.
import type { Config } from '../config.ts';
import { AppError, notFound } from '../errors.ts';
import { newId } from '../ids.ts';
import type {
  CreateSessionRequest,
  Event,
  Message,
  MessageMode,
  Session,
  SessionStatus,
} from '../protocol/index.ts';
import type { WorkspaceManager } from '../sandbox/workspace/manager.ts';
import { ConflictError } from '../store/errors.ts';
import type { MessageRecord, Page, SessionRecord, Store } from '../store/types.ts';
import { type Actor, audited } from './actions.ts';
import { conversationOrder } from './conversation-order.ts';
import type { EventLog } from './event-log.ts';
import type { Lifecycle } from './lifecycle.ts';
import { assertRepoUrl } from './request-checks.ts';

/** Interactive messages rank above every workflow priority: a person is waiting on them. */
export const INTERACTIVE_PRIORITY = 3;
/**
 * A steering message (`mode: "interrupt"`) runs next: before the session's other queued messages
 * and before the run that would otherwise take the slot its interrupted run frees.
 */
export const STEER_PRIORITY = INTERACTIVE_PRIORITY + 1;

export function toSession(s: SessionRecord): Session {
  return {
    id: s.id,
    title: s.title,
    status: s.status,
    engine: s.engine,
    model: s.model,
    ...(s.repoUrl ? { repoUrl: s.repoUrl } : {}),
    ...(s.branch ? { branch: s.branch } : {}),
    ...(s.policy ? { policy: s.policy } : {}),
    lastSeq: s.lastSeq,
    usage: s.usage,
    metadata: s.metadata,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

export function toMessage(m: MessageRecord): Message {
  return {
    id: m.id,
    sessionId: m.sessionId,
    ...(m.runId ? { runId: m.runId } : {}),
    role: m.role,
    text: m.text,
    createdAt: m.createdAt,
  };
}

export class SessionService {
  private store: Store;
  private config: Config;
  private eventLog: EventLog;
  private lifecycle: Lifecycle;
  private workspaces: WorkspaceManager;

  constructor(opts: {
    store: Store;
    config: Config;
    eventLog: EventLog;
    lifecycle: Lifecycle;
    workspaces: WorkspaceManager;
  }) {
    this.store = opts.store;
    this.config = opts.config;
    this.eventLog = opts.eventLog;
    this.lifecycle = opts.lifecycle;
    this.workspaces = opts.workspaces;
  }

  create(req: CreateSessionRequest, actor: Actor): Promise<Session> {
    return audited(
      this.lifecycle,
      actor,
      'session.create',
      undefined,
      () => this.createSession(req, actor),
      (s) => ({ target: s.id, details: { engine: s.engine } }),
    );
  }

  private async createSession(req: CreateSessionRequest, actor: Actor): Promise<Session> {
    assertRepoUrl(this.config, req.repoUrl);
    const id = newId('ses');
    const rec = await this.store.createSession({
      id,
      title: req.title ?? (req.repoUrl ? `Session on ${req.repoUrl}` : 'New session'),
      engine: req.engine ?? this.config.engine,
      model: req.model ?? this.config.model,
      repoUrl: req.repoUrl,
      branch: req.branch,
      systemPrompt: req.systemPrompt,
      metadata: req.metadata ?? {},
      ...(req.policy ? { policy: req.policy } : {}),
      credential: actor.id,
    });
    return toSession(rec);
  }

  async get(id: string): Promise<SessionRecord> {
    const s = await this.store.getSession(id);
    if (!s) throw notFound('session', id);
    return s;
  }

  async list(q: { status?: SessionStatus; limit: number; cursor?: string }): Promise<Page<Session>> {
    const page = await this.store.listSessions(q);
    return { items: page.items.map(toSession), nextCursor: page.nextCursor };
  }

  async messages(id: string): Promise<Message[]> {
    await this.get(id);
    const ordered = conversationOrder(await this.store.listMessages(id), await this.store.listRuns(id));
    // Tool-result turns carry no text for a reader; the conversation is the text exchanged.
    return ordered.filter((m) => m.text.length > 0).map(toMessage);
  }

  /**
   * Queues a run for the message. `mode: "interrupt"` (docs/api.md §10) also stops the session's
   * active run (its output so far stays in the history) and puts this one first.
   */
  send(
    sessionId: string,
    content: string,
    idempotencyKey: string | undefined,
    actor: Actor,
    mode: MessageMode = 'queue',
  ): Promise<{ sessionId: string; runId: string; duplicate: boolean; interrupted?: string }> {
    return audited(
      this.lifecycle,
      actor,
      'session.message',
      sessionId,
      () => this.sendMessage(sessionId, content, idempotencyKey, actor, mode),
      (r) => ({
        details: {
          runId: r.runId,
          ...(r.duplicate ? { duplicate: true } : {}),
          ...(mode === 'interrupt' ? { mode, ...(r.interrupted ? { interrupted: r.interrupted } : {}) } : {}),
        },
      }),
    );
  }

  private async sendMessage(
    sessionId: string,
    content: string,
    idempotencyKey: string | undefined,
    actor: Actor,
    mode: MessageMode,
  ): Promise<{ sessionId: string; runId: string; duplicate: boolean; interrupted?: string }> {
    const session = await this.get(sessionId);
    if (session.workflowId)
      throw new AppError('conflict', 'this session belongs to a workflow; it takes no messages');
    if (idempotencyKey) {
      const existing = await this.store.findRunByIdempotencyKey(sessionId, idempotencyKey);
      if (existing) return { sessionId, runId: existing.id, duplicate: true };
    }
    const runId = newId('run');
    // Only a message that steers something (a run active or waiting in this session) jumps the
    // queue: an idle session's "interrupt" is an ordinary message, not a way past other tenants.
    const steers =
      mode === 'interrupt' &&
      (await this.store.listRuns(sessionId)).some((r) => r.status === 'running' || r.status === 'queued');
    // ONE store operation (one group commit, shared by a burst of messages): the run, the message,
    // the session's status and the two events; the session's earlier events are published first.
    await this.eventLog.flush();
    try {
      const { events } = await this.store.queueMessage({
        run: {
          id: runId,
          sessionId,
          input: content,
          idempotencyKey,
          priority: steers ? STEER_PRIORITY : INTERACTIVE_PRIORITY,
          credential: actor.id,
          ...(actor.traceParent ? { traceParent: actor.traceParent } : {}),
        },
        message: {
          id: `${runId}-u`,
          sessionId,
          runId,
          role: 'user',
          text: content,
          createdAt: new Date().toISOString(),
        },
        events: [
          { runId, type: 'message.user', data: { text: content } },
          { runId, type: 'run.queued', data: { attempt: 1 } },
        ],
      });
      this.eventLog.publish(events);
    } catch (err) {
      // Two requests with the same key raced: the other one created the run.
      const existing =
        err instanceof ConflictError && idempotencyKey
          ? await this.store.findRunByIdempotencyKey(sessionId, idempotencyKey)
          : undefined;
      if (existing) return { sessionId, runId: existing.id, duplicate: true };
      throw err;
    }
    // Stopped after the new run is stored: the run's end wakes the scheduler, which finds this one.
    const interrupted = mode === 'interrupt' ? await this.stopActive(sessionId) : undefined;
    await this.lifecycle.emit('run.queued', { sessionId, runId });
    return { sessionId, runId, duplicate: false, ...(interrupted ? { interrupted } : {}) };
  }

  /** Asks the session's running run (if any) to stop; returns its id. */
  private async stopActive(sessionId: string): Promise<string | undefined> {
    const running = (await this.store.listRuns(sessionId)).find((r) => r.status === 'running');
    if (!running) return undefined;
    // The flag reaches a run on another instance at its next heartbeat; the bus stops a local one now.
    await this.store.requestCancel(running.id);
    await this.lifecycle.emit('run.stop', { runId: running.id, reason: 'cancel' });
    return running.id;
  }

  /** Stops the session's active run (if any); queued runs behind it stay queued. */
  interrupt(sessionId: string, actor: Actor): Promise<{ runId?: string }> {
    return audited(
      this.lifecycle,
      actor,
      'session.interrupt',
      sessionId,
      () => this.interruptRun(sessionId),
      (r) => ({ details: r.runId ? { runId: r.runId } : {} }),
    );
  }

  private async interruptRun(sessionId: string): Promise<{ runId?: string }> {
    await this.get(sessionId);
    const runId = await this.stopActive(sessionId);
    return runId ? { runId } : {};
  }

  delete(sessionId: string, actor: Actor): Promise<void> {
    return audited(this.lifecycle, actor, 'session.delete', sessionId, () => this.deleteSession(sessionId));
  }

  private async deleteSession(sessionId: string): Promise<void> {
    const session = await this.get(sessionId);
    if (session.workflowId)
      throw new AppError('conflict', 'this session belongs to a workflow; cancel the workflow instead');
    for (const r of await this.store.listRuns(sessionId)) {
      if (r.status === 'queued') await this.store.cancelQueuedRun(r.id);
      if (r.status === 'running') {
        await this.store.requestCancel(r.id);
        await this.lifecycle.emit('run.stop', { runId: r.id, reason: 'cancel' });
      }
    }
    // Listeners (the scheduler) return when the session's local runs have ended (bounded).
    await this.lifecycle.emit('session.deleting', { sessionId });
    await this.store.deleteSession(sessionId);
    await this.workspaces.remove(sessionId);
  }

  async events(
    sessionId: string,
    after: number,
    limit: number,
  ): Promise<{ items: Event[]; lastSeq: number }> {
    const session = await this.get(sessionId);
    const items = await this.store.listEvents(sessionId, after, limit);
    return { items, lastSeq: Math.max(session.lastSeq, items.at(-1)?.seq ?? 0) };
  }
}
