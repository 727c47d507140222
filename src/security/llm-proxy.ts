// A loopback proxy to the Anthropic API for agent processes (the Claude Code CLI). The process gets
// a per-run token instead of the real ANTHROPIC_API_KEY; the proxy swaps it for the real key and
// refuses it once the run has ended. A command the model runs can at most use the LLM while its
// own run lives — it never learns the key.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../observability/logger.ts';

export interface LlmGrant {
  baseUrl: string;
  apiKey: string;
  release(): void;
}

/** Paths an agent may use: the Messages API and model metadata, nothing else of the account. */
const ALLOWED = /^\/v1\/(messages(\/count_tokens)?|models(\/[A-Za-z0-9._:-]+)?)(\?.*)?$/;
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
]);

function apiError(res: http.ServerResponse, status: number, type: string, message: string): void {
  const body = JSON.stringify({ type: 'error', error: { type, message } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export class LlmProxy {
  private upstream: URL;
  private apiKey: string;
  private logger: Logger;
  private server?: http.Server;
  private grants = new Map<string, string>(); // token → runId
  private port_ = 0;

  constructor(opts: { upstreamUrl: string; apiKey: string; logger: Logger }) {
    this.upstream = new URL(opts.upstreamUrl.replace(/\/+$/, ''));
    this.apiKey = opts.apiKey;
    this.logger = opts.logger.child({ component: 'llm-proxy' });
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port_ = (this.server.address() as AddressInfo).port;
  }

  get port(): number {
    return this.port_;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port_}`;
  }

  /** A token valid until `release()` (called when the run ends). */
  grant(runId: string): LlmGrant {
    const token = `run-${randomBytes(24).toString('base64url')}`;
    this.grants.set(token, runId);
    return { baseUrl: this.url, apiKey: token, release: () => this.grants.delete(token) };
  }

  activeGrants(): number {
    return this.grants.size;
  }

  /** Tokens are 192-bit random strings, so an exact-match lookup leaks nothing useful by timing. */
  private tokenValid(given: string | undefined): boolean {
    return given !== undefined && this.grants.has(given);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const auth = req.headers.authorization?.match(/^Bearer\s+(.+)$/i)?.[1];
    const key =
      (Array.isArray(req.headers['x-api-key']) ? req.headers['x-api-key'][0] : req.headers['x-api-key']) ??
      auth;
    if (!this.tokenValid(key)) {
      req.resume();
      apiError(res, 401, 'authentication_error', 'invalid or expired run token');
      return;
    }
    const path = req.url ?? '/';
    if (!ALLOWED.test(path)) {
      req.resume();
      apiError(
        res,
        404,
        'not_found_error',
        `path not allowed through the agent proxy: ${path.split('?')[0]}`,
      );
      return;
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (HOP_BY_HOP.has(k) || k === 'authorization' || k === 'x-api-key') continue;
      headers[k] = v;
    }
    headers['x-api-key'] = this.apiKey;
    const base = this.upstream.pathname === '/' ? '' : this.upstream.pathname;
    const client = this.upstream.protocol === 'https:' ? https : http;
    const upstreamReq = client.request(
      {
        protocol: this.upstream.protocol,
        hostname: this.upstream.hostname,
        port: this.upstream.port || undefined,
        method: req.method,
        path: base + path,
        headers,
      },
      (up) => {
        const out: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k)) out[k] = v;
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
      },
    );
    upstreamReq.on('error', (err) => {
      this.logger.warn('upstream request failed', { err });
      if (!res.headersSent) apiError(res, 502, 'api_error', 'the LLM endpoint could not be reached');
      else res.destroy();
    });
    // A client that goes away cancels the upstream request (no orphaned generations).
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.pipe(upstreamReq);
  }

  async close(): Promise<void> {
    this.grants.clear();
    if (!this.server) return;
    await new Promise<void>((r) => {
      this.server!.close(() => r());
      this.server!.closeAllConnections();
    });
  }
}
