// The run lifecycle bus: what happened to runs, workflows and their callbacks, announced AFTER it
// is stored. The parts that react — the scheduler (wake up, stop a run), workflows (follow their
// run), callbacks (deliver now), metrics and the audit log — subscribe here instead of holding
// references to each other, so the composition root (runtime.ts) reads as a list of parts and
// their subscriptions.
//
// Guarantees: listeners run in subscription order, one event at a time per `emit` (awaited); a
// listener that throws is logged and does not stop the others or the emitter. The bus is in
// process: it is a notification, never the record — every state it announces is already in the
// store, so a listener that misses an event (a crash) finds the state there on restart.
import type { Logger } from '../observability/logger.ts';
import type { RunFailure, Usage } from '../protocol/index.ts';
import type { SandboxUsage } from '../sandbox/usage.ts';
import type { RunRecord } from '../store/types.ts';

/** How a run ended, as the executor saw it (before it is stored). */
export type RunOutcome =
  | {
      status: 'completed';
      stopReason: string;
      usage: Usage;
      finalText: string;
      toolMeta: Array<Record<string, unknown>>;
    }
  | { status: 'failed'; error: RunFailure; usage: Usage }
  | { status: 'cancelled'; usage: Usage };

/** Why an active run is being stopped. */
export type StopReason = 'cancel' | 'drain' | 'timeout' | 'lease_lost' | 'quota' | 'budget';

/** A state-changing action someone took through the API (HTTP or WebSocket): for the audit log. */
export interface ActionRecord {
  /** `key:<hash>`, `signed:tier1`, `anonymous`, `system`. */
  actor: string;
  action: string;
  target?: string;
  outcome: 'ok' | 'error' | 'denied';
  details?: Record<string, unknown>;
}

export interface LifecycleEvents {
  /** A run was stored as queued (new message, new workflow). The scheduler looks for work. */
  'run.queued': { sessionId: string; runId: string; workflowId?: string };
  /** Someone asked to stop a run (cancel, interrupt, delete); the instance running it stops it. */
  'run.stop': { runId: string; reason: StopReason };
  /** A run started executing (its `run.started` event is stored). */
  'run.started': { run: RunRecord; engine: string };
  /**
   * A run ended; its terminal event (and, for a workflow, the workflow's) is stored.
   * `durationMs` is absent when the run ended without executing (cancelled or over its attempts).
   */
  'run.finished': {
    run: RunRecord;
    outcome: RunOutcome;
    engine: string;
    durationMs?: number;
    /** What the run's sandboxed processes used, when their cgroups told (sandbox/usage.ts). */
    sandbox?: SandboxUsage;
  };
  /** A tool call ended (its `tool.completed` event is on its way to the store). */
  'tool.completed': { runId: string; tool: string; isError: boolean; durationMs: number };
  /** A session is about to be deleted: whoever runs its runs lets them end first (bounded). */
  'session.deleting': { sessionId: string };
  /** A running run was put back in the queue (drain, lost worker). */
  'run.requeued': { run: RunRecord; reason: 'drain' | 'worker_lost' };
  /** A workflow reached a terminal status. */
  'workflow.finished': { workflowId: string; status: 'completed' | 'failed' | 'cancelled'; usage: Usage };
  /** A callback was queued in the outbox. */
  'outbox.queued': { workflowId: string };
  /** A callback delivery attempt ended and its outcome is stored (alerts count the failures). */
  'callback.attempted': { workflowId: string; ok: boolean; gaveUp: boolean };
  /** An API action (session.create, workflow.cancel, …) happened. */
  action: ActionRecord;
}

export type LifecycleType = keyof LifecycleEvents;
type Listener<K extends LifecycleType> = (payload: LifecycleEvents[K]) => void | Promise<void>;

export class Lifecycle {
  private readonly listeners = new Map<LifecycleType, Array<Listener<LifecycleType>>>();
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger.child({ component: 'lifecycle' });
  }

  /** Subscribes; returns the unsubscribe function. */
  on<K extends LifecycleType>(type: K, listener: Listener<K>): () => void {
    const list = this.listeners.get(type) ?? [];
    list.push(listener as Listener<LifecycleType>);
    this.listeners.set(type, list);
    return () => {
      const i = list.indexOf(listener as Listener<LifecycleType>);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /** Calls every listener of `type` in order; failures are logged, never thrown. */
  async emit<K extends LifecycleType>(type: K, payload: LifecycleEvents[K]): Promise<void> {
    for (const listener of [...(this.listeners.get(type) ?? [])]) {
      try {
        await listener(payload);
      } catch (err) {
        this.logger.error('lifecycle listener failed', { type, err });
      }
    }
  }
}
