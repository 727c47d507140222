// This instance's heartbeat on the store, and what the others' heartbeats say: which instances
// stopped heart-beating without a clean stop (the `instance_down` alert) and which live instance
// evaluates the cluster-wide alert rules (the leader: the smallest live id, so every instance
// agrees without talking to the others). On the embedded SQLite store there is one instance: it
// is always the leader and nothing can be stale. Rows nobody heard from for a day are forgotten
// (their alert resolves), so a crashed instance with a one-off id does not alert forever.
import { type Clock, systemClock, type Timer } from '../clock.ts';
import type { Logger } from '../observability/logger.ts';
import type { InstanceRecord, Store } from '../store/types.ts';

export const FORGET_INSTANCES_AFTER_MS = 24 * 3_600_000;

export class InstanceRegistry {
  private readonly store: Store;
  private readonly id: string;
  private readonly version: string;
  private readonly heartbeatMs: number;
  private readonly staleMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly startedAt: string;
  private timer?: Timer;
  private failing = false;
  private beating = false;

  constructor(o: {
    store: Store;
    instanceId: string;
    version: string;
    heartbeatMs: number;
    staleMs: number;
    logger: Logger;
    clock?: Clock;
  }) {
    this.store = o.store;
    this.id = o.instanceId;
    this.version = o.version;
    this.heartbeatMs = o.heartbeatMs;
    this.staleMs = o.staleMs;
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger.child({ component: 'instances' });
    this.startedAt = new Date(this.clock.now()).toISOString();
  }

  /** Records the first heartbeat, then one every heartbeatMs. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = this.clock.setInterval(() => void this.beat(), this.heartbeatMs, { unref: true });
  }

  /** A clean stop: the others do not alert about this instance. */
  async stop(): Promise<void> {
    this.timer?.cancel();
    await this.store.stopInstance(this.id, new Date(this.clock.now()).toISOString());
  }

  private async beat(): Promise<void> {
    // A slow database must not pile up heartbeats (the store also never moves one back in time).
    if (this.beating) return;
    this.beating = true;
    const now = this.clock.now();
    try {
      await this.store.forgetInstances(new Date(now - FORGET_INSTANCES_AFTER_MS).toISOString());
      await this.store.heartbeatInstance(
        { id: this.id, version: this.version, startedAt: this.startedAt },
        new Date(now).toISOString(),
      );
      if (this.failing) this.logger.info('instance heartbeat recorded again');
      this.failing = false;
    } catch (err) {
      // One warning per outage; the database check in /health says the rest.
      if (!this.failing) this.logger.warn('instance heartbeat failed', { err });
      this.failing = true;
    } finally {
      this.beating = false;
    }
  }

  private alive(i: InstanceRecord, now: number): boolean {
    return i.stoppedAt === undefined && now - Date.parse(i.heartbeatAt) <= this.staleMs;
  }

  /** Instances (other than this one) whose heartbeat is older than staleMs and that did not stop cleanly. */
  async staleInstances(): Promise<Array<{ id: string; heartbeatAt: string }>> {
    if (!this.store.shared) return [];
    const now = this.clock.now();
    return (await this.store.listInstances())
      .filter((i) => i.id !== this.id && i.stoppedAt === undefined && !this.alive(i, now))
      .map((i) => ({ id: i.id, heartbeatAt: i.heartbeatAt }));
  }

  /** True when this instance has the smallest id among the live ones. */
  async isLeader(): Promise<boolean> {
    if (!this.store.shared) return true;
    const now = this.clock.now();
    const live = (await this.store.listInstances()).filter((i) => i.id !== this.id && this.alive(i, now));
    return live.every((i) => i.id > this.id);
  }
}
