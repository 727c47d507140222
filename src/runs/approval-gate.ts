// The approval gate of one run (docs/api.md §10): a tool call that a rule of the session's policy
// matches is recorded (Store.requestApproval: the approval, its `approval.requested` event, the
// session `waiting`), then waits — holding no LLM stream and no run slot — until it is decided:
//
// - by a person (HTTP or WebSocket, on any instance): the `approval.resolved` event reaches the
//   event log here (locally, or from another instance through the broadcaster; on a shared store
//   the record is also polled, in case no broadcaster carries it);
// - by the timeout (`expiresAt`, on the injected clock): denied, by `timeout`;
// - by the run's end: a cancel, interrupt, delete, timeout or quota stop denies it by `cancel`, a
//   drain or lost lease by `restart` — before the run is re-queued or ended (the executor awaits
//   `close()` first).
//
// While a run has pending approvals it is parked (its scheduler slot is free for other runs); once
// the last one is decided it waits for a slot before its tools go on (RunSlot.resume).

import { matchApprovalRule } from '../agent/approval-rules.ts';
import type { ApprovalGate, ApprovalVerdict, GatedToolCall } from '../agent/engine.ts';
import { type Clock, systemClock, type Timer } from '../clock.ts';
import { newId } from '../ids.ts';
import type { Logger } from '../observability/logger.ts';
import type { ApprovalDecidedBy, ApprovalDecision, EngineName } from '../protocol/index.ts';
import type { ApprovalChange, ApprovalRecord, RunRecord, SessionRecord, Store } from '../store/types.ts';
import type { EventLog } from './event-log.ts';
import type { Lifecycle, StopReason } from './lifecycle.ts';

/** How the scheduler counts a run: parked while it waits for people, resumed (when a slot is free) after. */
export interface RunSlot {
  /**
   * The run's engine is known (its session was read): the scheduler narrows the run's memory
   * reservation now rather than at `run.started`, two store writes later — in a burst, claims
   * held back by memory go on that much sooner.
   */
  engine?(name: EngineName): void;
  park(): void;
  /** Resolves when the run may go on; at once when the signal aborts. */
  resume(signal: AbortSignal): Promise<void>;
}

export interface ApprovalGateDeps {
  store: Store;
  eventLog: EventLog;
  lifecycle: Lifecycle;
  logger: Logger;
  clock?: Clock;
  /** How often a waiting call re-reads its record on a shared store (ms). */
  pollMs?: number;
}

export interface ApprovalGateOptions {
  run: RunRecord;
  session: SessionRecord;
  rules: readonly string[];
  timeoutMs: number;
  signal: AbortSignal;
  /** Why the run is being stopped, once it is (decides `cancel` or `restart`). */
  stopReason: () => StopReason | undefined;
  slot?: RunSlot;
}

interface Outcome {
  decision: ApprovalDecision;
  by: ApprovalDecidedBy;
  message?: string;
}

interface Waiter {
  id: string;
  settle(o: Outcome): void;
  /** Denies it in the store (unless decided meanwhile) and settles it with what the store holds. */
  end(by: ApprovalDecidedBy): Promise<void>;
}

const ALLOW: ApprovalVerdict = { allow: true };

/** What the model reads when a call is denied. */
export function denialMessage(o: Outcome, timeoutMs: number): string {
  switch (o.by) {
    case 'user':
      return o.message ? `denied by the user: ${o.message}` : 'denied by the user';
    case 'timeout':
      return `denied: nobody decided within ${formatDuration(timeoutMs)} (the approval timed out); do not retry this call`;
    case 'restart':
      return 'denied: the server restarted while this call waited for approval';
    default:
      return 'denied: the run was stopped while this call waited for approval';
  }
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

export class RunApprovalGate implements ApprovalGate {
  readonly timeoutMs: number;
  private readonly d: ApprovalGateDeps;
  private readonly o: ApprovalGateOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly waiters = new Map<string, Waiter>();
  /** Store work in flight (requests, decisions): close() waits for it. */
  private readonly work = new Set<Promise<unknown>>();
  private closed = false;

  constructor(deps: ApprovalGateDeps, opts: ApprovalGateOptions) {
    this.d = deps;
    this.o = opts;
    this.timeoutMs = opts.timeoutMs;
    this.clock = deps.clock ?? systemClock;
    this.log = deps.logger.child({ component: 'approvals', runId: opts.run.id, sessionId: opts.session.id });
  }

  /** Before the run's engine starts: approvals an earlier attempt of this run left pending are denied (restart). */
  async open(): Promise<void> {
    for (const a of await this.d.store.pendingApprovals(this.o.run.id)) await this.decide(a.id, 'restart');
  }

  async check(call: GatedToolCall): Promise<ApprovalVerdict> {
    const rule = matchApprovalRule(this.o.rules, call.name, call.input);
    if (!rule) return ALLOW;
    const { session, signal } = this.o;
    const stopped = (): ApprovalVerdict => ({
      allow: false,
      message: denialMessage({ decision: 'deny', by: this.byOnStop() }, this.timeoutMs),
    });
    if (this.closed || signal.aborted) return stopped();

    const id = newId('apr');
    const expiresAt = new Date(this.clock.now() + this.timeoutMs).toISOString();
    let settle!: (o: Outcome) => void;
    const outcome = new Promise<Outcome>((r) => {
      settle = r;
    });
    // Subscribed before the request is stored: a decision that comes at once is not missed.
    const unsubscribe = this.d.eventLog.subscribe(session.id, (e) => {
      if (e.type === 'approval.resolved' && e.data.approvalId === id)
        settle({
          decision: e.data.decision,
          by: e.data.by,
          ...(e.data.message !== undefined ? { message: e.data.message } : {}),
        });
    });
    const waiter: Waiter = { id, settle, end: (by) => this.decide(id, by) };
    const timers: Timer[] = [];
    const onAbort = () => void waiter.end(this.byOnStop());
    try {
      // The call's tool.started (and all before it) is stored first: seq order is the order of things.
      await this.d.eventLog.flush();
      let req: ApprovalChange;
      try {
        req = await this.track(this.requestApproval(id, call, rule, expiresAt));
      } catch (err) {
        // Fail closed: a call that cannot be put before a person does not run.
        this.log.warn('could not store an approval request', { tool: call.name, err });
        return {
          allow: false,
          message: 'denied: the approval request could not be recorded; try again later',
        };
      }
      if (!req.changed) return stopped(); // the run is no longer running (cancelled meanwhile)
      this.announce(req);
      this.waiters.set(id, waiter);
      if (this.waiters.size === 1) this.o.slot?.park();
      this.log.info('tool call waits for approval', { approvalId: id, tool: call.name, rule });

      timers.push(
        this.clock.setTimeout(
          () => void waiter.end('timeout'),
          Math.max(0, Date.parse(expiresAt) - this.clock.now()),
        ),
      );
      if (this.d.store.shared) {
        // Another instance may decide it with no broadcaster to tell us: read the record now and then.
        timers.push(this.clock.setInterval(() => void this.reread(waiter), this.d.pollMs ?? 2_000));
      }
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted || this.closed) onAbort();

      const o = await outcome;
      return o.decision === 'allow' ? ALLOW : { allow: false, message: denialMessage(o, this.timeoutMs) };
    } finally {
      unsubscribe();
      for (const t of timers) t.cancel();
      signal.removeEventListener('abort', onAbort);
      if (this.waiters.delete(id) && this.waiters.size === 0 && !signal.aborted) {
        // The last decision: the run counts again, once a slot is free.
        await this.o.slot?.resume(signal);
      }
    }
  }

  private requestApproval(id: string, call: GatedToolCall, rule: string, expiresAt: string) {
    const { run, session } = this.o;
    return this.d.store.requestApproval({
      id,
      sessionId: session.id,
      ...(session.workflowId ? { workflowId: session.workflowId } : {}),
      runId: run.id,
      toolUseId: call.toolUseId,
      name: call.name,
      input: call.input,
      rule,
      expiresAt,
    });
  }

  /**
   * The run's engine has returned (or thrown): every call still waiting is denied (cancel or
   * restart), and the store work in flight is done — before the run is ended or re-queued.
   */
  async close(): Promise<void> {
    this.closed = true;
    const by = this.byOnStop();
    await Promise.allSettled([...this.waiters.values()].map((w) => w.end(by)));
    while (this.work.size > 0) await Promise.allSettled([...this.work]);
    // Anything the store still holds as pending (a decision that failed to store): denied now.
    try {
      for (const a of await this.d.store.pendingApprovals(this.o.run.id)) await this.decide(a.id, by);
    } catch (err) {
      this.log.warn('could not resolve the pending approvals of the run', { err });
    }
  }

  private byOnStop(): ApprovalDecidedBy {
    const reason = this.o.stopReason();
    return reason === 'drain' || reason === 'lease_lost' ? 'restart' : 'cancel';
  }

  /** Denies approval `id` by `by` unless it is decided already; settles its waiter with what is stored. */
  private async decide(id: string, by: ApprovalDecidedBy): Promise<void> {
    try {
      const res = await this.track(this.d.store.decideApproval({ id, decision: 'deny', by }));
      this.announce(res);
      const a = res.approval ?? (await this.d.store.getApproval(id));
      this.settleFrom(a);
      if (!a) this.waiters.get(id)?.settle({ decision: 'deny', by });
    } catch (err) {
      // Fail closed: the call is denied even when the store cannot say so; close() tries again.
      this.log.warn('could not store an approval decision', { approvalId: id, by, err });
      this.waiters.get(id)?.settle({ decision: 'deny', by });
    }
  }

  private async reread(w: Waiter): Promise<void> {
    try {
      this.settleFrom(await this.d.store.getApproval(w.id));
    } catch (err) {
      this.log.warn('could not read an approval', { approvalId: w.id, err });
    }
  }

  private settleFrom(a: ApprovalRecord | undefined): void {
    if (a?.status !== 'decided' || !a.decision || !a.by) return;
    const o: Outcome = { decision: a.decision, by: a.by };
    if (a.message !== undefined) o.message = a.message;
    this.waiters.get(a.id)?.settle(o);
  }

  /** Publishes what a store change stored, and tells the callbacks about a queued notification. */
  private announce(res: ApprovalChange): void {
    publishApprovalChange(this.d, res);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.work.add(p);
    void p.finally(() => this.work.delete(p)).catch(() => {});
    return p;
  }
}

/** The events of an approval change go out; a queued notification is delivered now, not at the next poll. */
export function publishApprovalChange(
  d: { eventLog: EventLog; lifecycle: Lifecycle },
  res: Pick<ApprovalChange, 'events' | 'outboxQueued' | 'approval'>,
): void {
  d.eventLog.publish(res.events);
  const wf = res.approval?.workflowId;
  if (res.outboxQueued && wf) void d.lifecycle.emit('outbox.queued', { workflowId: wf });
}
