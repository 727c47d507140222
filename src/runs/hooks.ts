// Lifecycle hooks: how the workflow layer (and metrics) learn what happened to a run without the
// scheduler knowing about workflows.
import type { RunFailure, Usage } from '../protocol/index.ts';
import type { RunRecord } from '../store/types.ts';

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

export interface RunHooks {
  onStarted?(run: RunRecord): Promise<void>;
  /** Called once per terminal outcome, after the run row and its terminal event are stored. */
  onFinished?(run: RunRecord, outcome: RunOutcome): Promise<void>;
  /** Called when a run is put back in the queue (drain, lost lease). */
  onRequeued?(run: RunRecord, reason: string): Promise<void>;
}
