// A signed client for the agent server (docs/api.md §3, §6, §7, §10) on `fetch` and Web Crypto only.
// Every request carries X-Timestamp, X-Nonce and X-Signature over the exact bytes sent (or a bearer
// key). Each call is bounded by `timeoutMs`, so a Worker with a 30 s budget never waits past it.

import { signedRequestHeaders } from './signing.ts';
import { parseSse } from './sse.ts';
import {
  type AgentEvent,
  type ApprovalDecided,
  type ApprovalDecision,
  type Page,
  type SubmitWorkflowRequest,
  TERMINAL_STATUSES,
  type Workflow,
  type WorkflowStatus,
} from './types.ts';

export interface AgentClientOptions {
  /** The server's base URL, e.g. `https://agent.example.com` (a path prefix is kept). */
  baseUrl: string;
  /** SIGNING_SECRET shared with the server: every request is signed (§3). */
  signingSecret?: string;
  /** Or a bearer key from the server's API_KEYS. */
  apiKey?: string;
  /** Per-request limit in ms (default 10 000): well inside a Worker's 30 s. */
  timeoutMs?: number;
  /** Defaults to the global fetch (called unbound: Workers reject `fetch` with a foreign `this`). */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Clock for X-Timestamp (tests). */
  now?: () => number;
}

/** A non-2xx answer: `{error: {code, message, details?}}` of docs/api.md §4. */
export class AgentApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details?: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'AgentApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export interface ListWorkflowsQuery {
  status?: WorkflowStatus;
  type?: string;
  limit?: number;
  cursor?: string;
}

export interface FollowOptions {
  /** Start after this seq (default 0: the whole history). */
  after?: number;
  signal?: AbortSignal;
  /** Reconnects after a dropped stream before giving up (default 5); a delivered event resets it. */
  maxReconnects?: number;
  /** Stop after the terminal `workflow.status` event (default true). */
  untilTerminal?: boolean;
}

const enc = (s: string) => encodeURIComponent(s);

export class AgentClient {
  private readonly base: string;
  private readonly o: AgentClientOptions;
  private readonly doFetch: (input: string, init: RequestInit) => Promise<Response>;

  constructor(o: AgentClientOptions) {
    if (!o.signingSecret && !o.apiKey) throw new Error('AgentClient needs signingSecret or apiKey');
    this.o = o;
    this.base = o.baseUrl.replace(/\/+$/, '');
    this.doFetch = o.fetch ?? ((input, init) => fetch(input, init));
  }

  private async headers(method: string, url: string, raw: string, extra: Record<string, string>) {
    const h: Record<string, string> = { ...extra };
    if (raw !== '') h['Content-Type'] = 'application/json';
    if (this.o.apiKey) h.Authorization = `Bearer ${this.o.apiKey}`;
    if (this.o.signingSecret) {
      Object.assign(h, await signedRequestHeaders(this.o.signingSecret, method, url, raw, this.now()));
    }
    return h;
  }

  private now(): number {
    return this.o.now ? this.o.now() : Date.now();
  }

  /** One request; the parsed JSON body and the status. Non-2xx → AgentApiError. */
  async request<T>(
    method: string,
    pathWithQuery: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const raw = body === undefined ? '' : JSON.stringify(body);
    const url = this.base + pathWithQuery;
    const res = await this.doFetch(url, {
      method,
      headers: await this.headers(method, url, raw, { Accept: 'application/json' }),
      ...(raw !== '' ? { body: raw } : {}),
      signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new AgentApiError(res.status, 'invalid_response', `HTTP ${res.status}: not JSON`);
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)
        ?.error;
      throw new AgentApiError(
        res.status,
        typeof e?.code === 'string' ? e.code : 'http_error',
        typeof e?.message === 'string' ? e.message : `HTTP ${res.status}`,
        e?.details,
      );
    }
    return { status: res.status, body: parsed as T };
  }

  /** POST /api/workflows: 202 → created; 200 → the existing workflow with that idempotencyKey. */
  async submit(req: SubmitWorkflowRequest): Promise<{ workflow: Workflow; created: boolean }> {
    const r = await this.request<Workflow>('POST', '/api/workflows', req);
    return { workflow: r.body, created: r.status === 202 };
  }

  async get(workflowId: string): Promise<Workflow> {
    return (await this.request<Workflow>('GET', `/api/workflows/${enc(workflowId)}`)).body;
  }

  async list(q: ListWorkflowsQuery = {}): Promise<Page<Workflow>> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) qs.set(k, String(v));
    const s = qs.toString();
    return (await this.request<Page<Workflow>>('GET', `/api/workflows${s ? `?${s}` : ''}`)).body;
  }

  /** 202 with the workflow; 409 (AgentApiError code `conflict`) when it is already terminal. */
  async cancel(workflowId: string): Promise<Workflow> {
    return (await this.request<Workflow>('POST', `/api/workflows/${enc(workflowId)}/cancel`)).body;
  }

  /** §10: decide a pending approval. 409 when already decided, 404 when unknown. */
  async approve(
    workflowId: string,
    approvalId: string,
    decision: ApprovalDecision,
    message?: string,
  ): Promise<ApprovalDecided> {
    const body = message === undefined ? { decision } : { decision, message };
    return (
      await this.request<ApprovalDecided>(
        'POST',
        `/api/workflows/${enc(workflowId)}/approvals/${enc(approvalId)}`,
        body,
      )
    ).body;
  }

  /** One page of the workflow's stored events after `after` (§7). */
  async events(
    workflowId: string,
    after = 0,
    limit = 200,
  ): Promise<{ items: AgentEvent[]; lastSeq: number }> {
    return (
      await this.request<{ items: AgentEvent[]; lastSeq: number }>(
        'GET',
        `/api/workflows/${enc(workflowId)}/events?after=${after}&limit=${limit}`,
      )
    ).body;
  }

  /**
   * Follows the workflow's events over SSE (§7): stored ones first, then live ones, each once and in
   * order. A dropped stream is resumed from the last seq seen (a freshly signed request each time).
   * Ends after the terminal `workflow.status` event (unless `untilTerminal: false`) or on abort.
   */
  async *follow(workflowId: string, o: FollowOptions = {}): AsyncGenerator<AgentEvent> {
    let after = o.after ?? 0;
    let failures = 0;
    const maxReconnects = o.maxReconnects ?? 5;
    const untilTerminal = o.untilTerminal ?? true;
    for (;;) {
      if (o.signal?.aborted) return;
      const url = `${this.base}/api/workflows/${enc(workflowId)}/events?follow=true&after=${after}`;
      let res: Response;
      try {
        res = await this.doFetch(url, {
          method: 'GET',
          headers: await this.headers('GET', url, '', { Accept: 'text/event-stream' }),
          ...(o.signal ? { signal: o.signal } : {}),
        });
      } catch (err) {
        if (o.signal?.aborted) return;
        if (++failures > maxReconnects) throw err;
        continue;
      }
      if (!res.ok || !res.body) {
        const text = await res.text().catch(() => '');
        let code = 'http_error';
        let message = `HTTP ${res.status}`;
        try {
          const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
          code = e?.code ?? code;
          message = e?.message ?? message;
        } catch {
          // not JSON: keep the status line
        }
        throw new AgentApiError(res.status, code, message);
      }
      try {
        for await (const m of parseSse(res.body)) {
          const ev = JSON.parse(m.data) as AgentEvent;
          if (typeof ev.seq !== 'number' || ev.seq <= after) continue;
          after = ev.seq;
          failures = 0;
          yield ev;
          if (
            untilTerminal &&
            ev.type === 'workflow.status' &&
            TERMINAL_STATUSES.includes(ev.data.status as WorkflowStatus)
          )
            return;
        }
      } catch (err) {
        if (o.signal?.aborted) return;
        if (++failures > maxReconnects) throw err;
        continue;
      }
      // The server closed the stream (a restart, a drain): resume after the last seq.
      if (++failures > maxReconnects) throw new Error(`event stream of ${workflowId} kept closing`);
    }
  }
}
