// A small typed client for the HTTP API (docs/api.md §3, §5, §6): bearer or HMAC-signed requests.
// fetch-based; depends only on the protocol types and ../security/signing.ts.
import type { CreateWorkflowRequest, Event, Workflow } from '../protocol/index.ts';
import { signedHeaders } from '../security/signing.ts';

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
  status: 'idle' | 'queued' | 'running';
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
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.o.apiKey) headers.Authorization = `Bearer ${this.o.apiKey}`;
    if (this.o.signingSecret) Object.assign(headers, signedHeaders(this.o.signingSecret, method, url, raw));
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
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) qs.set(k, String(v));
    const s = qs.toString();
    return (await this.request<Page<Workflow>>('GET', `/api/workflows${s ? `?${s}` : ''}`)).body;
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
