// A loopback proxy to the Anthropic API for agent processes (the Claude Code CLI). The process gets
// a per-run token instead of the real ANTHROPIC_API_KEY; the proxy swaps it for the real key and
// refuses it once the run has ended. A command the model runs can read that token (same uid, same
// sandbox), so the token is worth exactly what the proxy forwards: the Messages API for the run's
// model (pinned), without server-side tools or fields that make the API act elsewhere, metered per
// run, with caps on size, time and concurrency. What passes is decided in ./llm-proxy-policy.ts.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import { readCappedBody } from './llm-proxy-body.ts';
import {
  betaConfigProblem,
  DEFAULT_ALLOWED_BETAS,
  filterRequestBody,
  forwardHeaders,
  LONG_CONTEXT_BETA,
  matchRoute,
  type Route,
  responseHeaders,
} from './llm-proxy-policy.ts';
import { addUsage, emptyUsage, type LlmUsage, responseMeter } from './llm-usage.ts';

export type { LlmUsage } from './llm-usage.ts';

export interface LlmProxyOptions {
  upstreamUrl: string;
  apiKey: string;
  logger: Logger;
  /** Largest request body accepted (default 32 MiB: Claude Code sends whole conversations). */
  maxBodyBytes?: number;
  /** Betas allowed on top of DEFAULT_ALLOWED_BETAS (the forbidden ones are refused: ConfigError). */
  allowBetas?: readonly string[];
  /** Requests one grant may have in flight (default 8); more get 429. */
  maxConcurrentPerGrant?: number;
  /** Deadline for a request's headers and body (default 30 s). */
  requestTimeoutMs?: number;
  /** The upstream request is aborted after this long without a byte (default 10 min). */
  idleTimeoutMs?: number;
}

export interface GrantOptions {
  /** The run's model: the only one the token may use (a trailing `[1m]` selects the 1M-context beta). */
  model: string;
  /** Called with each usage increment and the grant's new total (live budgets). */
  onUsage?: (delta: LlmUsage, total: LlmUsage) => void;
}

export interface LlmGrant {
  baseUrl: string;
  apiKey: string;
  /** The model every request must name. */
  model: string;
  /** Revokes the token and cuts its requests in flight. */
  release(): void;
  /** Tokens metered so far. */
  usage(): LlmUsage;
}

/**
 * A token handed out before the run it will serve is known (a warm Claude Code spare holds it in
 * its environment from the start): it exists, but the proxy refuses every request made with it
 * (401, as for an unknown token) until `activate` binds it to a run and its model, and again from
 * `release()` on. A spare's process can therefore not spend anything while it is parked.
 */
export interface ReservedGrant {
  baseUrl: string;
  apiKey: string;
  /** Binds the token to `runId` and its model from now on; once only. The grant's `release` revokes it. */
  activate(runId: string, opts: GrantOptions): LlmGrant;
  /** Revokes the token (activated or not). */
  release(): void;
}

interface GrantState {
  /** False while reserved (every request is refused) and after release. */
  active: boolean;
  runId: string;
  model: string;
  betas: ReadonlySet<string>;
  usage: LlmUsage;
  onUsage?: GrantOptions['onUsage'];
  /** aborts of the requests in flight */
  inflight: Set<() => void>;
}

const DEFAULTS = {
  maxBodyBytes: 32 * 1024 * 1024,
  maxConcurrentPerGrant: 8,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 600_000,
};

function apiError(
  res: http.ServerResponse,
  status: number,
  type: string,
  message: string,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ type: 'error', error: { type, message } });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...extra,
  });
  res.end(body);
}

export class LlmProxy {
  private upstream: URL;
  private apiKey: string;
  private logger: Logger;
  private opts: typeof DEFAULTS;
  private extraBetas: readonly string[];
  private server?: http.Server;
  private grants = new Map<string, GrantState>(); // token → grant
  private port_ = 0;

  constructor(opts: LlmProxyOptions) {
    this.upstream = new URL(opts.upstreamUrl.replace(/\/+$/, ''));
    this.apiKey = opts.apiKey;
    this.logger = opts.logger.child({ component: 'llm-proxy' });
    this.opts = {
      maxBodyBytes: opts.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
      maxConcurrentPerGrant: opts.maxConcurrentPerGrant ?? DEFAULTS.maxConcurrentPerGrant,
      requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
    };
    this.extraBetas = opts.allowBetas ?? [];
    const problem = betaConfigProblem(this.extraBetas);
    if (problem !== null) throw new ConfigError(problem);
  }

  async start(): Promise<void> {
    const t = this.opts.requestTimeoutMs;
    this.server = http.createServer(
      {
        // Backstops to the per-request body deadline: slow headers, and Node's own whole-request limit.
        headersTimeout: t,
        requestTimeout: t + 1000,
        connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(t / 4))),
        keepAliveTimeout: 30_000,
      },
      (req, res) => this.handle(req, res),
    );
    this.server.on('clientError', (_err, socket) => socket.destroy());
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port_ = (this.server.address() as AddressInfo).port;
  }

  get port(): number {
    return this.port_;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port_}`;
  }

  /** A token bound to `runId` and its model, valid until `release()` (called when the run ends). */
  grant(runId: string, opts: GrantOptions): LlmGrant {
    return this.reserve().activate(runId, opts);
  }

  /** A token that refuses everything until it is activated for a run (see ReservedGrant). */
  reserve(): ReservedGrant {
    const state: GrantState = {
      active: false,
      runId: '',
      model: '',
      betas: new Set(),
      usage: emptyUsage(),
      inflight: new Set(),
    };
    const token = `run-${randomBytes(24).toString('base64url')}`;
    this.grants.set(token, state);
    let activated = false;
    const release = (): void => {
      state.active = false;
      if (this.grants.get(token) !== state) return;
      this.grants.delete(token);
      for (const abort of [...state.inflight]) abort();
    };
    return {
      baseUrl: this.url,
      apiKey: token,
      release,
      activate: (runId, opts) => {
        if (typeof opts.model !== 'string' || opts.model.trim() === '') {
          throw new Error('LlmProxy.grant: a model is required');
        }
        if (activated) throw new Error('LlmProxy: a reserved grant is activated once');
        if (this.grants.get(token) !== state) throw new Error('LlmProxy: the reserved grant was released');
        activated = true;
        const longContext = /\[1m\]$/i.test(opts.model);
        const model = longContext ? opts.model.slice(0, -4) : opts.model;
        const betas = new Set([...DEFAULT_ALLOWED_BETAS, ...this.extraBetas]);
        if (longContext) betas.add(LONG_CONTEXT_BETA);
        Object.assign(state, { runId, model, betas, onUsage: opts.onUsage, active: true });
        return {
          baseUrl: this.url,
          apiKey: token,
          model,
          release,
          usage: () => ({ ...state.usage }),
        };
      },
    };
  }

  /** Tokens bound to a run right now (reserved ones not yet activated are not counted). */
  activeGrants(): number {
    let n = 0;
    for (const g of this.grants.values()) if (g.active) n++;
    return n;
  }

  /** Tokens handed out and not yet released, active or reserved. */
  issuedGrants(): number {
    return this.grants.size;
  }

  /** Tokens are 192-bit random strings, so an exact-match lookup leaks nothing useful by timing. */
  private grantOf(req: http.IncomingMessage): GrantState | undefined {
    const x = req.headers['x-api-key'];
    const key = (Array.isArray(x) ? x[0] : x) ?? req.headers.authorization?.match(/^Bearer\s+(\S+)$/i)?.[1];
    const grant = key === undefined ? undefined : this.grants.get(key);
    return grant?.active ? grant : undefined;
  }

  /** Answers and drops the connection: nothing more is read from a client that was refused. */
  private refuse(
    res: http.ServerResponse,
    status: number,
    type: string,
    message: string,
    extra: Record<string, string> = {},
  ): undefined {
    apiError(res, status, type, message, { connection: 'close', ...extra });
    return undefined;
  }

  /** The grant and route of an acceptable request; otherwise answers it and returns undefined. */
  private admit(
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): { grant: GrantState; route: Route } | undefined {
    const grant = this.grantOf(req);
    if (!grant) return this.refuse(res, 401, 'authentication_error', 'invalid or expired run token');
    const route = matchRoute(req.url ?? '/');
    if (!route) {
      const path = (req.url ?? '/').split('?')[0]!.slice(0, 200);
      return this.refuse(res, 404, 'not_found_error', `path not allowed through the agent proxy: ${path}`);
    }
    if (req.method !== route.method) {
      const msg = `method ${req.method} not allowed on this path`;
      return this.refuse(res, 405, 'invalid_request_error', msg, { allow: route.method });
    }
    if (grant.inflight.size >= this.opts.maxConcurrentPerGrant) {
      const msg = `at most ${this.opts.maxConcurrentPerGrant} requests at once per run`;
      return this.refuse(res, 429, 'rate_limit_error', msg, { 'retry-after': '1' });
    }
    return { grant, route };
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.on('error', () => {});
    const admitted = this.admit(req, res);
    if (!admitted) return;
    const { grant, route } = admitted;
    const ctl = new AbortController();
    const abort = (): void => {
      ctl.abort();
      res.destroy();
    };
    grant.inflight.add(abort);
    res.on('close', () => {
      grant.inflight.delete(abort);
      // A client that goes away cancels the upstream request (no orphaned generations).
      if (!res.writableFinished) ctl.abort();
    });
    this.forward(req, res, grant, route, ctl.signal).catch((err: unknown) => {
      this.logger.warn('llm-proxy: request failed', { err, runId: grant.runId });
      apiError(res, 500, 'api_error', 'the agent proxy failed');
    });
  }

  private async forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    grant: GrantState,
    route: Route,
    signal: AbortSignal,
  ): Promise<void> {
    const raw = await readCappedBody(req, {
      max: route.method === 'GET' ? 64 * 1024 : this.opts.maxBodyBytes,
      timeoutMs: this.opts.requestTimeoutMs,
      signal,
    });
    if (raw === 'aborted') return void res.destroy();
    if (raw === 'timeout') {
      return this.refuse(res, 408, 'timeout_error', 'the request body did not arrive in time');
    }
    if (raw === 'too_large') {
      return this.refuse(
        res,
        413,
        'request_too_large',
        `request body over ${this.opts.maxBodyBytes} bytes (LLM_PROXY_MAX_BODY_BYTES)`,
      );
    }
    let payload: Buffer | undefined;
    if (route.method === 'POST') {
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return apiError(res, 400, 'invalid_request_error', 'the request body is not valid JSON');
      }
      const filtered = filterRequestBody(
        route.kind === 'messages' ? 'messages' : 'count_tokens',
        body,
        grant.model,
      );
      if (!filtered.ok) {
        this.logger.warn('llm-proxy: request refused', { runId: grant.runId, reason: filtered.message });
        return apiError(res, 400, 'invalid_request_error', filtered.message);
      }
      if (filtered.dropped.length > 0) {
        this.logger.warn('llm-proxy: dropped request fields', {
          runId: grant.runId,
          dropped: filtered.dropped,
        });
      }
      try {
        payload = Buffer.from(JSON.stringify(filtered.body));
      } catch {
        // JSON.parse takes any depth, JSON.stringify does not
        return apiError(res, 400, 'invalid_request_error', 'the request body is nested too deeply');
      }
    }
    const { headers, droppedBetas } = forwardHeaders(req.headers, grant.betas);
    if (droppedBetas.length > 0) {
      this.logger.warn('llm-proxy: dropped betas', { runId: grant.runId, dropped: droppedBetas });
    }
    headers['x-api-key'] = this.apiKey;
    // Identity, so the response can be metered as it passes (a compressed one is still decoded).
    headers['accept-encoding'] = 'identity';
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    if (signal.aborted) return void res.destroy();
    this.send(res, grant, route, headers, payload, signal);
  }

  private send(
    res: http.ServerResponse,
    grant: GrantState,
    route: Route,
    headers: Record<string, string>,
    payload: Buffer | undefined,
    signal: AbortSignal,
  ): void {
    const base = this.upstream.pathname === '/' ? '' : this.upstream.pathname;
    const client = this.upstream.protocol === 'https:' ? https : http;
    let idle = false;
    const upReq = client.request({
      protocol: this.upstream.protocol,
      hostname: this.upstream.hostname,
      port: this.upstream.port || undefined,
      method: route.method,
      path: base + route.target,
      headers,
      signal,
    });
    // No byte from the upstream for this long (waiting for headers, or mid-stream): give up.
    upReq.setTimeout(this.opts.idleTimeoutMs, () => {
      idle = true;
      upReq.destroy();
    });
    upReq.on('error', (err) => {
      if (signal.aborted) return void res.destroy();
      this.logger.warn('llm-proxy: upstream request failed', { err, runId: grant.runId, idle });
      if (idle) apiError(res, 504, 'timeout_error', 'the LLM endpoint sent nothing for too long');
      else apiError(res, 502, 'api_error', 'the LLM endpoint could not be reached');
    });
    upReq.on('response', (up) => {
      const status = up.statusCode ?? 502;
      res.writeHead(status, responseHeaders(up.headers));
      const metered = route.kind === 'messages' && status >= 200 && status < 300;
      const meter = metered
        ? responseMeter({
            streaming: String(up.headers['content-type'] ?? '').includes('text/event-stream'),
            contentEncoding: up.headers['content-encoding'],
            onDelta: (d) => this.account(grant, d),
          })
        : undefined;
      if (metered) this.account(grant, { ...emptyUsage(), requests: 1 });
      let ended = false;
      up.on('data', (c: Buffer) => meter?.push(c));
      up.on('end', () => {
        ended = true;
        meter?.end(true);
      });
      up.on('close', () => {
        if (!ended) {
          meter?.end(false);
          res.destroy();
        }
      });
      up.on('error', () => res.destroy());
      up.pipe(res);
    });
    upReq.end(payload);
  }

  private account(grant: GrantState, d: LlmUsage): void {
    addUsage(grant.usage, d);
    if (!grant.onUsage) return;
    try {
      grant.onUsage(d, { ...grant.usage });
    } catch (err) {
      this.logger.warn('llm-proxy: onUsage failed', { err, runId: grant.runId });
    }
  }

  async close(): Promise<void> {
    for (const g of this.grants.values()) for (const abort of [...g.inflight]) abort();
    this.grants.clear();
    if (!this.server) return;
    await new Promise<void>((r) => {
      this.server!.close(() => r());
      this.server!.closeAllConnections();
    });
  }
}
