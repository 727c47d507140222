// Approval use cases (docs/api.md §10): a person decides a waiting tool call — over HTTP through
// its session or its workflow, or over the WebSocket — and anyone authorised lists them. The
// decision is one store transaction (the approval, its `approval.resolved` event, the session's
// status); the run waiting for it learns of it from the event (runs/approval-gate.ts), on
// whichever instance it runs.
import { AppError, notFound } from '../errors.ts';
import type {
  Approval,
  ApprovalDecided,
  ApprovalDecisionRequest,
  ApprovalStatus,
} from '../protocol/index.ts';
import type { ApprovalRecord, Page, Store } from '../store/types.ts';
import { type Actor, audited } from './actions.ts';
import { publishApprovalChange } from './approval-gate.ts';
import type { EventLog } from './event-log.ts';
import type { Lifecycle } from './lifecycle.ts';

/** Where a decision was addressed: an approval is found only through its own session or workflow. */
export type ApprovalScope = { sessionId: string } | { workflowId: string };

export function toApproval(a: ApprovalRecord): Approval {
  return {
    approvalId: a.id,
    sessionId: a.sessionId,
    ...(a.workflowId ? { workflowId: a.workflowId } : {}),
    runId: a.runId,
    toolUseId: a.toolUseId,
    name: a.name,
    input: a.input,
    rule: a.rule,
    status: a.status,
    ...(a.decision ? { decision: a.decision } : {}),
    ...(a.by ? { by: a.by } : {}),
    ...(a.message !== undefined ? { message: a.message } : {}),
    requestedAt: a.requestedAt,
    expiresAt: a.expiresAt,
    ...(a.decidedAt ? { decidedAt: a.decidedAt } : {}),
  };
}

export class ApprovalService {
  private store: Store;
  private eventLog: EventLog;
  private lifecycle: Lifecycle;

  constructor(opts: { store: Store; eventLog: EventLog; lifecycle: Lifecycle }) {
    this.store = opts.store;
    this.eventLog = opts.eventLog;
    this.lifecycle = opts.lifecycle;
  }

  /** 200 with the decision; 404 when the approval is not one of the scope's; 409 when already decided. */
  decide(
    scope: ApprovalScope,
    approvalId: string,
    req: ApprovalDecisionRequest,
    actor: Actor,
  ): Promise<ApprovalDecided> {
    const target = 'sessionId' in scope ? scope.sessionId : scope.workflowId;
    return audited(
      this.lifecycle,
      actor,
      'approval.decide',
      target,
      () => this.decideIn(scope, approvalId, req),
      (r) => ({ details: { approvalId: r.approvalId, decision: r.decision } }),
    );
  }

  private async decideIn(
    scope: ApprovalScope,
    approvalId: string,
    req: ApprovalDecisionRequest,
  ): Promise<ApprovalDecided> {
    if ('sessionId' in scope) {
      if (!(await this.store.getSession(scope.sessionId))) throw notFound('session', scope.sessionId);
    } else if (!(await this.store.getWorkflow(scope.workflowId)))
      throw notFound('workflow', scope.workflowId);
    const res = await this.store.decideApproval({
      id: approvalId,
      decision: req.decision,
      by: 'user',
      ...(req.message !== undefined ? { message: req.message } : {}),
      ...scope,
    });
    if (!res.approval) throw notFound('approval', approvalId);
    if (!res.changed) {
      const a = res.approval;
      throw new AppError(
        'conflict',
        `approval ${approvalId} is already decided (${a.decision ?? '?'} by ${a.by ?? '?'})`,
      );
    }
    publishApprovalChange({ eventLog: this.eventLog, lifecycle: this.lifecycle }, res);
    return { approvalId, decision: req.decision, by: 'user' };
  }

  async list(q: { status?: ApprovalStatus; limit: number; cursor?: string }): Promise<Page<Approval>> {
    const page = await this.store.listApprovals(q);
    return { items: page.items.map(toApproval), nextCursor: page.nextCursor };
  }
}
