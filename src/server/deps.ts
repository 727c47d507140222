// What the HTTP/WebSocket layer is given by the composition root (src/runtime.ts).
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Tracing } from '../observability/tracing.ts';
import type { ApprovalService } from '../runs/approvals.ts';
import type { EventLog } from '../runs/event-log.ts';
import type { SessionService } from '../runs/sessions.ts';
import type { Store } from '../store/types.ts';

export interface HealthCheck {
  name: string;
  check(): Promise<{ ok: boolean; [k: string]: unknown }>;
}

export interface ServerDeps {
  config: Config;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  /** Request spans (the no-op tracer when no OTLP endpoint is configured). */
  tracing?: Tracing;
  eventLog: EventLog;
  sessions: SessionService;
  /** Decisions on tool calls waiting for approval (docs/api.md §10). */
  approvals: ApprovalService;
  version: string;
  startedAt: number;
  healthChecks: HealthCheck[];
  /** False once SIGTERM arrived: readiness fails and new runs are refused. */
  isAccepting(): boolean;
}
