// A small typed client for the HTTP API (docs/api.md §3, §5, §6): bearer or HMAC-signed requests.
// fetch-based; depends only on the protocol types and ../security/signing.ts.
import type {
  Approval,
  ApprovalDecided,
  ApprovalDecision,
  CreateWorkflowRequest,
  Event,
  Workflow,
} from '../protocol/index.ts';
import { signedHeaders } from '../security/signing.ts';
import { followEventStream } from './follow.ts';

export {
  MemoryNonceStore,
  type NonceStore,
  type VerifyCallbackOptions,
  type VerifyCallbackResult,
  verifyCallback,
} from './verify-callback.ts';

export interface ClientOptions {
  baseUrl: string;
  /** Bearer key (one of API_KEYS). */
  apiKey?: string;
  /** Signs every request with SIGNING_SECRET instead (Tier 1 Workers). */
  signingSecret?: string;
  fetch?: typeof fetch;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details?: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export interface SessionInfo {
  id: string;
  title: string;
  status: 'idle' | 'queued' | 'running' | 'waiting';
  lastSeq: number;
  [k: string]: unknown;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export class AgentClient {
  private base: string;
  private o: ClientOptions;
  private fetchFn: typeof fetch;

  constructor(o: ClientOptions) {
    this.o = o;
    this.base = o.baseUrl.replace(/\/+$/, '');
    this.fetchFn = o.fetch ?? fetch;
  }

  /** Sends a request; returns the HTTP status with the parsed JSON body; non-2xx → ApiError. */
  async request<T>(
    method: string,
    pathWithQuery: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const raw = body === undefined ? '' : JSON.stringify(body);
    const url = this.base + pathWithQuery;
    const headers = this.authHeaders(method, url, raw);
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await this.fetchFn(url, { method, headers, body: body === undefined ? undefined : raw });
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    if (!res.ok) {
      const err = (parsed as { error?: { code?: string; message?: string; details?: unknown } } | undefined)
        ?.error;
      throw new ApiError(
        res.status,
        err?.code ?? 'internal',
        err?.message ?? `HTTP ${res.status}`,
        err?.details,
      );
    }
    return { status: res.status, body: parsed as T };
  }

  /** Authorization of one request: the bearer key, or a fresh signature (a new nonce each time). */
  authHeaders(method: string, url: string, rawBody = ''): Record<string, string> {
    const headers: Record<string, string> = {};
    if (this.o.apiKey) headers.Authorization = `Bearer ${this.o.apiKey}`;
    if (this.o.signingSecret)
      Object.assign(headers, signedHeaders(this.o.signingSecret, method, url, rawBody));
    return headers;
  }

  /** 202 → created; 200 → an existing workflow with the same idempotencyKey. */
  async createWorkflow(req: CreateWorkflowRequest): Promise<{ workflow: Workflow; created: boolean }> {
    const r = await this.request<Workflow>('POST', '/api/workflows', req);
    return { workflow: r.body, created: r.status === 202 };
  }

  async getWorkflow(id: string): Promise<Workflow> {
    return (await this.request<Workflow>('GET', `/api/workflows/${encodeURIComponent(id)}`)).body;
  }

  async listWorkflows(
    q: { status?: string; type?: string; limit?: number; cursor?: string } = {},
  ): Promise<Page<Workflow>> {
    return (await this.request<Page<Workflow>>('GET', `/api/workflows${query(q)}`)).body;
  }

  async cancelWorkflow(id: string): Promise<Workflow> {
    return (await this.request<Workflow>('POST', `/api/workflows/${encodeURIComponent(id)}/cancel`)).body;
  }

  async createSession(
    req: { title?: string; repoUrl?: string; branch?: string; metadata?: Record<string, unknown> } = {},
  ): Promise<SessionInfo> {
    return (await this.request<SessionInfo>('POST', '/api/sessions', req)).body;
  }

  async sendMessage(
    sessionId: string,
    content: string,
    idempotencyKey?: string,
  ): Promise<{ sessionId: string; runId: string }> {
    const body = idempotencyKey ? { content, idempotencyKey } : { content };
    return (
      await this.request<{ sessionId: string; runId: string }>(
        'POST',
        `/api/sessions/${encodeURIComponent(sessionId)}/messages`,
        body,
      )
    ).body;
  }

  /** One page of stored events after `after` (a session id, or `{workflowId}`). */
  async events(
    target: string | { workflowId: string },
    after = 0,
    limit = 1000,
  ): Promise<{ items: Event[]; lastSeq: number }> {
    const p =
      typeof target === 'string'
        ? `/api/sessions/${encodeURIComponent(target)}`
        : `/api/workflows/${encodeURIComponent(target.workflowId)}`;
    return (
      await this.request<{ items: Event[]; lastSeq: number }>(
        'GET',
        `${p}/events?after=${after}&limit=${limit}`,
      )
    ).body;
  }

  async getSession(id: string): Promise<SessionInfo> {
    return (await this.request<SessionInfo>('GET', `/api/sessions/${encodeURIComponent(id)}`)).body;
  }

  async listSessions(
    q: { status?: string; limit?: number; cursor?: string } = {},
  ): Promise<Page<SessionInfo>> {
    return (await this.request<Page<SessionInfo>>('GET', `/api/sessions${query(q)}`)).body;
  }

  async listApprovals(
    q: { status?: 'pending' | 'decided'; limit?: number; cursor?: string } = {},
  ): Promise<Page<Approval>> {
    return (await this.request<Page<Approval>>('GET', `/api/approvals${query(q)}`)).body;
  }

  /** Decides an approval of a session (or, with `{workflowId}`, of a workflow). */
  async decideApproval(
    target: string | { workflowId: string },
    approvalId: string,
    decision: ApprovalDecision,
    message?: string,
  ): Promise<ApprovalDecided> {
    const p =
      typeof target === 'string'
        ? `/api/sessions/${encodeURIComponent(target)}`
        : `/api/workflows/${encodeURIComponent(target.workflowId)}`;
    const body = message === undefined ? { decision } : { decision, message };
    return (
      await this.request<ApprovalDecided>('POST', `${p}/approvals/${encodeURIComponent(approvalId)}`, body)
    ).body;
  }

  /**
   * Follows the events of a session (or `{workflowId}`) live over SSE from `after`, reconnecting
   * from the last seq after a drop, until `onEvent` returns false or `signal` aborts.
   */
  follow(
    target: string | { workflowId: string },
    onEvent: (event: Event) => boolean | undefined | Promise<boolean | undefined>,
    o: { after?: number; signal?: AbortSignal } = {},
  ): Promise<number> {
    const p =
      typeof target === 'string'
        ? `/api/sessions/${encodeURIComponent(target)}`
        : `/api/workflows/${encodeURIComponent(target.workflowId)}`;
    return followEventStream({
      url: `${this.base}${p}/events`,
      headers: (url) => this.authHeaders('GET', url),
      onEvent,
      fetch: this.fetchFn,
      ...(o.after !== undefined ? { after: o.after } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  }

  /** Polls until the workflow is terminal (completed, failed or cancelled). */
  async waitForWorkflow(id: string, o: { timeoutMs?: number; intervalMs?: number } = {}): Promise<Workflow> {
    const end = Date.now() + (o.timeoutMs ?? 600_000);
    for (;;) {
      const w = await this.getWorkflow(id);
      if (w.status === 'completed' || w.status === 'failed' || w.status === 'cancelled') return w;
      if (Date.now() > end) throw new Error(`workflow ${id} still ${w.status}`);
      await new Promise((r) => setTimeout(r, o.intervalMs ?? 500));
    }
  }
}

function query(q: Record<string, string | number | undefined>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) qs.set(k, String(v));
  const s = qs.toString();
  return s ? `?${s}` : '';
}
