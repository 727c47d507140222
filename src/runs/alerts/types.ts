// What an alert is (docs/api.md §11): a named rule of this server that is either firing or not,
// with the value that made it fire and the threshold it crossed. The notice is what the webhook
// receives (JSON) and what Telegram shows (text); AlertState is what `firing()` lists for /api/stats.

export type AlertName =
  | 'run_failures'
  | 'llm_failures'
  | 'callback_failures'
  | 'queue_depth'
  | 'disk_usage'
  | 'memory_usage'
  | 'instance_down';

export type AlertSeverity = 'warning' | 'critical';

/** The webhook body (docs/api.md §11), plus `instance` (who sent it) and `subject` (e.g. the instance that is down). */
export interface AlertNotice {
  kind: 'alert';
  name: AlertName;
  state: 'firing' | 'resolved';
  severity: AlertSeverity;
  message: string;
  value: number;
  threshold: number;
  /** When this state was entered (ISO). */
  at: string;
  /** The instance that evaluated the rule (INSTANCE_ID). */
  instance: string;
  /** What the alert is about when one rule can fire for several things (instance_down: the instance id). */
  subject?: string;
}

/** An alert firing now, as `/api/stats` shows it. */
export interface AlertState {
  name: AlertName;
  subject?: string;
  severity: AlertSeverity;
  message: string;
  value: number;
  threshold: number;
  /** Firing since (ISO). */
  since: string;
  /** False while the cool-down holds its notification back. */
  notified: boolean;
}

/** Where notices go (a signed webhook, Telegram). */
export interface AlertSink {
  readonly name: string;
  /** One attempt; `retry` says whether another attempt may succeed. */
  send(notice: AlertNotice): Promise<{ ok: true } | { ok: false; error: string; retry: boolean }>;
}

/** What the periodic rules read; each probe may fail (its rules then keep their state). */
export interface AlertProbes {
  /** Queued runs (all instances). */
  queueDepth(): Promise<number>;
  /** Used percent of the data file system. */
  diskUsedPercent(): Promise<number>;
  /** Used percent of memory (cgroup limit or machine). */
  memoryUsedPercent(): Promise<number>;
  /** Instances that stopped heart-beating (only on a shared store; else none). */
  staleInstances(): Promise<Array<{ id: string; heartbeatAt: string }>>;
  /** Whether this instance evaluates the cluster-wide rules (queue depth, instances): one does. */
  isLeader(): Promise<boolean>;
}
