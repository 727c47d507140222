// The Worker's state in one Durable Object: which chat or issue started each workflow, the approval
// buttons it sent, callback nonces and handled delivery ids. A Durable Object runs one call at a
// time, so "accept this nonce once" and "handle this delivery once" are real check-and-set
// operations, which an eventually consistent KV cannot promise.
import { DurableObject } from 'cloudflare:workers';

export type Origin =
  | { kind: 'telegram'; chatId: number; messageId: number; userId: number }
  | { kind: 'github'; repo: string; issue: number; user: string };

/** What an approval button (or an "@bot approve" comment) decides. */
export interface ApprovalTarget {
  workflowId: string;
  approvalId: string;
  /** Telegram: the chat allowed to press it. */
  chatId?: number;
  /** GitHub: the issue it belongs to (`owner/name#n`). */
  issue?: string;
  summary: string;
}

const DELIVERY_KEEP_MS = 7 * 24 * 3600_000;
const WORKFLOW_KEEP_MS = 30 * 24 * 3600_000;
const SWEEP_EVERY_MS = 3600_000;

export class BotState extends DurableObject {
  private async put(key: string, value: unknown, keepMs: number): Promise<void> {
    await this.ctx.storage.put(key, { value, until: Date.now() + keepMs });
    if ((await this.ctx.storage.getAlarm()) === null)
      await this.ctx.storage.setAlarm(Date.now() + SWEEP_EVERY_MS);
  }

  private async read<T>(key: string): Promise<T | undefined> {
    const e = await this.ctx.storage.get<{ value: T; until: number }>(key);
    return e && e.until > Date.now() ? e.value : undefined;
  }

  async linkWorkflow(workflowId: string, origin: Origin): Promise<void> {
    await this.put(`wf:${workflowId}`, origin, WORKFLOW_KEEP_MS);
  }

  async origin(workflowId: string): Promise<Origin | undefined> {
    return this.read<Origin>(`wf:${workflowId}`);
  }

  /**
   * Whether the "Started …" reply was sent. Marked after it was sent, so a redelivered webhook
   * (the first attempt failed before the reply) replies then, and one that came after it does not.
   */
  async acked(workflowId: string): Promise<boolean> {
    return (await this.read(`ack:${workflowId}`)) !== undefined;
  }

  async markAcked(workflowId: string): Promise<void> {
    await this.put(`ack:${workflowId}`, true, WORKFLOW_KEEP_MS);
  }

  /** Check-and-set: false when the nonce was accepted within `ttlMs` (a replayed callback). */
  async acceptNonce(nonce: string, ttlMs: number): Promise<boolean> {
    if (await this.read(`n:${nonce}`)) return false;
    await this.put(`n:${nonce}`, true, ttlMs);
    return true;
  }

  async deliverySeen(deliveryId: string): Promise<boolean> {
    return (await this.read(`d:${deliveryId}`)) !== undefined;
  }

  async deliveryDone(deliveryId: string): Promise<void> {
    await this.put(`d:${deliveryId}`, true, DELIVERY_KEEP_MS);
  }

  async putApproval(token: string, target: ApprovalTarget, keepMs: number): Promise<void> {
    await this.put(`ap:${token}`, target, keepMs);
    if (target.issue) await this.put(`ap-issue:${target.issue}`, token, keepMs);
  }

  async approval(token: string): Promise<ApprovalTarget | undefined> {
    return this.read<ApprovalTarget>(`ap:${token}`);
  }

  /** The pending approval of a GitHub issue, if any. */
  async issueApproval(issue: string): Promise<{ token: string; target: ApprovalTarget } | undefined> {
    const token = await this.read<string>(`ap-issue:${issue}`);
    const target = token ? await this.approval(token) : undefined;
    return token && target ? { token, target } : undefined;
  }

  /** A decided approval's button no longer works. */
  async dropApproval(token: string): Promise<void> {
    const target = await this.approval(token);
    await this.ctx.storage.delete(`ap:${token}`);
    if (target?.issue && (await this.read<string>(`ap-issue:${target.issue}`)) === token)
      await this.ctx.storage.delete(`ap-issue:${target.issue}`);
  }

  /** Drops expired entries once an hour while any remain. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const all = await this.ctx.storage.list<{ until: number }>();
    const expired = [...all].filter(([, e]) => e.until <= now).map(([k]) => k);
    for (let i = 0; i < expired.length; i += 128) await this.ctx.storage.delete(expired.slice(i, i + 128));
    if (all.size > expired.length) await this.ctx.storage.setAlarm(now + SWEEP_EVERY_MS);
  }
}
