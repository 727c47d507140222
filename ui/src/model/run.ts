// A session's event stream folded into what the run view shows: user messages, assistant text
// (streamed deltas merged into one block), one card per tool call (input, output, result), run
// boundaries, approvals, notices. Pure: no DOM, so it is tested on its own (test/ui/run-model.test.ts).
//
// Exactly once, in order: `apply` takes only the event with seq = lastSeq + 1. An event at or below
// lastSeq is a duplicate (a resubscription overlapping what arrived before a drop) and is dropped;
// one further ahead is a gap, refused so that the caller asks again from lastSeq.
import type { Event, Usage } from '../types.ts';

interface Base {
  /** Stable key for rendering. */
  key: string;
  /** The seqs of the events folded into this item, in order. */
  seqs: number[];
  /** Bumped on every change, so a view re-renders only what changed. */
  rev: number;
  runId?: string;
  ts: string;
}

export interface UserItem extends Base {
  kind: 'user';
  text: string;
}
export interface AssistantItem extends Base {
  kind: 'assistant';
  text: string;
  /** Still receiving deltas (no message.assistant yet). */
  streaming: boolean;
}
export interface OutputChunk {
  stream: 'stdout' | 'stderr';
  text: string;
}
export interface ToolItem extends Base {
  kind: 'tool';
  toolUseId: string;
  name: string;
  input: unknown;
  output: OutputChunk[];
  outputChars: number;
  result?: { isError: boolean; output: string; durationMs: number };
  approvalId?: string;
}
export interface RunItem extends Base {
  kind: 'run';
  type: 'run.queued' | 'run.started' | 'run.completed' | 'run.failed' | 'run.cancelled';
  data: Record<string, unknown>;
}
export interface ApprovalItem extends Base {
  kind: 'approval';
  approvalId: string;
  toolUseId: string;
  name: string;
  input: unknown;
  rule: string;
  expiresAt: string;
  resolved?: { decision: 'allow' | 'deny'; by: string; message?: string };
}
export interface NoticeItem extends Base {
  kind: 'notice';
  message: string;
}
export interface WorkflowItem extends Base {
  kind: 'workflow';
  status: string;
}
/** An event type this dashboard does not know yet (a newer server): shown as JSON. */
export interface OtherItem extends Base {
  kind: 'other';
  type: string;
  data: unknown;
}

export type Item =
  | UserItem
  | AssistantItem
  | ToolItem
  | RunItem
  | ApprovalItem
  | NoticeItem
  | WorkflowItem
  | OtherItem;

export type ApplyResult = 'applied' | 'duplicate' | 'gap';

export type RunPhase = 'idle' | 'queued' | 'running' | 'waiting';

export class RunModel {
  readonly items: Item[] = [];
  lastSeq = 0;
  /** Events applied (= lastSeq when the history started at 1). */
  applied = 0;
  /** Token use and cost of the runs completed in this stream. */
  usage: Usage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
  phase: RunPhase = 'idle';
  workflowStatus: string | undefined;
  pendingApprovals = 0;
  private tools = new Map<string, ToolItem>();
  private approvals = new Map<string, ApprovalItem>();
  /** The assistant block receiving deltas, per run. */
  private streaming = new Map<string, AssistantItem>();

  apply(e: Event): ApplyResult {
    if (e.seq <= this.lastSeq) return 'duplicate';
    if (e.seq !== this.lastSeq + 1) return 'gap';
    this.lastSeq = e.seq;
    this.applied += 1;
    this.fold(e);
    return 'applied';
  }

  private base(e: Event, key = `e${e.seq}`): Base {
    return { key, seqs: [e.seq], rev: 0, ts: e.ts, ...(e.runId ? { runId: e.runId } : {}) };
  }

  private touch(item: Item, seq: number): void {
    item.seqs.push(seq);
    item.rev += 1;
  }

  private fold(e: Event): void {
    const run = e.runId ?? '';
    switch (e.type) {
      case 'message.user':
        this.items.push({ ...this.base(e), kind: 'user', text: e.data.text });
        return;
      case 'text.delta': {
        const open = this.streaming.get(run);
        if (open && this.items[this.items.length - 1] === open) {
          open.text += e.data.text;
          this.touch(open, e.seq);
          return;
        }
        const item: AssistantItem = {
          ...this.base(e),
          kind: 'assistant',
          text: e.data.text,
          streaming: true,
        };
        this.streaming.set(run, item);
        this.items.push(item);
        return;
      }
      case 'message.assistant': {
        const open = this.streaming.get(run);
        this.streaming.delete(run);
        // The final text of the turn replaces what was streamed — unless the stream was of another turn.
        if (open?.streaming && e.data.text.startsWith(open.text)) {
          open.text = e.data.text;
          open.streaming = false;
          this.touch(open, e.seq);
          return;
        }
        this.items.push({ ...this.base(e), kind: 'assistant', text: e.data.text, streaming: false });
        return;
      }
      case 'tool.started': {
        const item: ToolItem = {
          ...this.base(e, `t${e.seq}`),
          kind: 'tool',
          toolUseId: e.data.toolUseId,
          name: e.data.name,
          input: e.data.input,
          output: [],
          outputChars: 0,
        };
        this.tools.set(e.data.toolUseId, item);
        this.items.push(item);
        return;
      }
      case 'tool.output': {
        const item = this.toolOf(e, e.data.toolUseId, '');
        const last = item.output[item.output.length - 1];
        if (last && last.stream === e.data.stream) last.text += e.data.chunk;
        else item.output.push({ stream: e.data.stream, text: e.data.chunk });
        item.outputChars += e.data.chunk.length;
        this.touch(item, e.seq);
        return;
      }
      case 'tool.completed': {
        const item = this.toolOf(e, e.data.toolUseId, e.data.name);
        item.result = { isError: e.data.isError, output: e.data.output, durationMs: e.data.durationMs };
        this.touch(item, e.seq);
        return;
      }
      case 'run.queued':
      case 'run.started':
      case 'run.completed':
      case 'run.failed':
      case 'run.cancelled': {
        // A run queued behind a running one does not make the session "queued".
        if (e.type === 'run.queued') this.phase = this.phase === 'idle' ? 'queued' : this.phase;
        else this.phase = e.type === 'run.started' ? 'running' : this.afterRunEnd();
        if (e.type === 'run.completed') {
          const u = e.data.usage;
          this.usage = {
            inputTokens: this.usage.inputTokens + u.inputTokens,
            outputTokens: this.usage.outputTokens + u.outputTokens,
            costUsd: this.usage.costUsd + u.costUsd,
          };
        }
        if (e.type !== 'run.queued' && e.type !== 'run.started') this.streaming.delete(run);
        this.items.push({
          ...this.base(e),
          kind: 'run',
          type: e.type,
          data: e.data as Record<string, unknown>,
        });
        return;
      }
      case 'workflow.status':
        this.workflowStatus = e.data.status;
        this.items.push({ ...this.base(e), kind: 'workflow', status: e.data.status });
        return;
      case 'session.notice':
        this.items.push({ ...this.base(e), kind: 'notice', message: e.data.message });
        return;
      case 'approval.requested': {
        const item: ApprovalItem = {
          ...this.base(e, `a${e.seq}`),
          kind: 'approval',
          approvalId: e.data.approvalId,
          toolUseId: e.data.toolUseId,
          name: e.data.name,
          input: e.data.input,
          rule: e.data.rule,
          expiresAt: e.data.expiresAt,
        };
        this.approvals.set(item.approvalId, item);
        const tool = this.tools.get(item.toolUseId);
        if (tool) {
          tool.approvalId = item.approvalId;
          tool.rev += 1;
        }
        this.items.push(item);
        this.pendingApprovals += 1;
        this.phase = 'waiting';
        return;
      }
      case 'approval.resolved': {
        const item = this.approvals.get(e.data.approvalId);
        if (!item) {
          this.items.push({ ...this.base(e), kind: 'other', type: e.type, data: e.data });
          return;
        }
        if (!item.resolved) this.pendingApprovals = Math.max(0, this.pendingApprovals - 1);
        item.resolved = {
          decision: e.data.decision,
          by: e.data.by,
          ...(e.data.message ? { message: e.data.message } : {}),
        };
        this.touch(item, e.seq);
        if (this.pendingApprovals === 0 && this.phase === 'waiting') this.phase = 'running';
        return;
      }
      default: {
        const other = e as { type: string; data: unknown };
        this.items.push({ ...this.base(e), kind: 'other', type: other.type, data: other.data });
      }
    }
  }

  private afterRunEnd(): RunPhase {
    this.pendingApprovals = 0;
    return 'idle';
  }

  /** The card of a tool call; one is made when its start was never seen (a capped or odd stream). */
  private toolOf(e: Event, toolUseId: string, name: string): ToolItem {
    const found = this.tools.get(toolUseId);
    if (found) return found;
    const item: ToolItem = {
      ...this.base(e, `t${e.seq}`),
      seqs: [],
      kind: 'tool',
      toolUseId,
      name: name || 'tool',
      input: undefined,
      output: [],
      outputChars: 0,
    };
    this.tools.set(toolUseId, item);
    this.items.push(item);
    return item;
  }
}
