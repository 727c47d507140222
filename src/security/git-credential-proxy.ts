// The git credential proxy: git over HTTPS to GitHub without the token ever entering a sandbox.
//
// A git process that needs GitHub credentials (clone, fetch, push of a GitHub remote) is given a
// one-shot URL on this loopback proxy instead of the repository's (through `url.<grant>.insteadOf`
// in its command-scope config). The proxy forwards git's smart-HTTP requests — and only those — to
// the ONE repository the grant names, adding `Authorization` itself; the token stays in the server
// process. A grant:
//   - is a 256-bit random path segment, valid until the git process it was made for exits;
//   - names its upstream as the server built it (`<GITHUB_GIT_URL>/<owner>/<repo>.git`), never a
//     URL the agent wrote: a remote pointing elsewhere gets no grant, and a grant cannot be pointed
//     elsewhere;
//   - allows only the services it was made for (upload-pack for clone/fetch, receive-pack for push)
//     and, for a push, only updates of the refs the tool was asked to push.
// Sandboxed git processes reach the proxy at the same 127.0.0.1:<port> through their egress gate
// (only `git`-policy processes: the model's own commands never can). Redirects are not followed.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../observability/logger.ts';

export type GitService = 'git-upload-pack' | 'git-receive-pack';

export interface GitGrantRequest {
  /** The repository's URL as the server built it, e.g. `https://github.com/acme/widgets.git`. */
  upstream: string;
  services: GitService[];
  /** receive-pack: the only refs a push may update (exact names); absent: any. */
  refs?: string[];
  /** The `Authorization` header value for the upstream, asked for each request (tokens refresh). */
  authorization(): Promise<string>;
  /** For the log: what the grant is for. */
  label: string;
}

export interface GitGrant {
  /** The URL git uses instead of the repository's (no trailing slash). */
  readonly url: string;
  revoke(): void;
}

interface Grant extends GitGrantRequest {
  upstreamUrl: URL;
  inflight: Set<http.ClientRequest>;
}

const SECRET_BYTES = 32;
/** Commands of a receive-pack request are at most this big before the pack starts. */
const MAX_COMMANDS_BYTES = 1024 * 1024;
const FORWARD_REQUEST_HEADERS = [
  'content-type',
  'accept',
  'accept-encoding',
  'content-encoding',
  'git-protocol',
  'user-agent',
];
const FORWARD_RESPONSE_HEADERS = ['content-type', 'cache-control', 'expires', 'pragma', 'content-encoding'];

function deny(res: http.ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end(`${message}\n`);
}

/**
 * Reads the pkt-line commands at the start of a receive-pack request (`<old> <new> <ref>\0caps`
 * …, then a flush `0000`) and returns the bytes read, or a refusal when a command updates a ref the
 * grant does not allow. The rest of the body (the pack) is left in the stream.
 */
function readPushCommands(
  req: http.IncomingMessage,
  allowed: readonly string[],
): Promise<{ head: Buffer } | { refused: string }> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let pos = 0;
    const done = (r: { head: Buffer } | { refused: string }) => {
      // Paused, not consumed: the rest of the body (the pack) is piped upstream afterwards.
      req.pause();
      req.off('data', onData);
      req.off('end', onEnd);
      resolve(r);
    };
    const onEnd = () => done({ refused: 'the push request ended before its commands' });
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= pos + 4) {
        const len = Number.parseInt(buf.subarray(pos, pos + 4).toString('latin1'), 16);
        if (!Number.isFinite(len) || (len > 0 && len < 4)) return done({ refused: 'malformed push request' });
        if (len === 0) return done({ head: buf });
        if (buf.length < pos + len) break;
        const cmd = buf
          .subarray(pos + 4, pos + len)
          .toString('latin1')
          .split('\0')[0]!
          .replace(/\n$/, '');
        // `shallow <sha>` lines precede the commands of a push from a shallow clone.
        if (!cmd.startsWith('shallow ')) {
          const ref = cmd.split(' ')[2];
          if (!ref || !allowed.includes(ref))
            return done({
              refused: `this push may update only ${allowed.join(', ')}, not ${ref ?? '(none)'}`,
            });
        }
        pos += len;
      }
      if (buf.length > MAX_COMMANDS_BYTES) done({ refused: 'push commands too long' });
    };
    req.on('data', onData);
    req.on('end', onEnd);
  });
}

export class GitCredentialProxy {
  private server?: http.Server;
  private readonly grants = new Map<string, Grant>();
  private readonly logger?: Logger;
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(opts: { logger?: Logger } = {}) {
    this.logger = opts.logger;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.requestTimeout = 0; // a pack upload can take long; grants end with their git process
    server.headersTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  grant(req: GitGrantRequest): GitGrant {
    if (!this.server) throw new Error('git credential proxy not started');
    const upstreamUrl = new URL(req.upstream.replace(/\/+$/, ''));
    const secret = randomBytes(SECRET_BYTES).toString('base64url');
    const grant: Grant = { ...req, upstreamUrl, inflight: new Set() };
    this.grants.set(secret, grant);
    return {
      url: `http://127.0.0.1:${this.port}/${secret}`,
      revoke: () => {
        if (this.grants.get(secret) !== grant) return;
        this.grants.delete(secret);
        for (const r of grant.inflight) r.destroy();
      },
    };
  }

  /** Grants alive (tests: none may outlive its git process). */
  get activeGrants(): number {
    return this.grants.size;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const m = /^\/([A-Za-z0-9_-]{43})(\/info\/refs|\/git-upload-pack|\/git-receive-pack)$/.exec(url.pathname);
    const grant = m ? this.grants.get(m[1]!) : undefined;
    if (!m || !grant) return deny(res, 404, 'unknown or expired git credential grant');
    const suffix = m[2]!;
    let service: string;
    if (suffix === '/info/refs') {
      if (req.method !== 'GET') return deny(res, 405, 'method not allowed');
      service = url.searchParams.get('service') ?? '';
    } else {
      if (req.method !== 'POST') return deny(res, 405, 'method not allowed');
      service = suffix.slice(1);
    }
    if (!grant.services.includes(service as GitService)) {
      this.logger?.warn('git credential proxy: service refused', { grant: grant.label, service });
      return deny(res, 403, `${service || 'dumb HTTP'} is not allowed for this git process`);
    }
    let head: Buffer | undefined;
    if (suffix === '/git-receive-pack' && grant.refs) {
      if (req.headers['content-encoding'] && req.headers['content-encoding'] !== 'identity')
        return deny(res, 415, 'compressed push requests are not accepted');
      const cmds = await readPushCommands(req, grant.refs);
      if ('refused' in cmds) {
        this.logger?.warn('git credential proxy: push refused', { grant: grant.label, why: cmds.refused });
        return deny(res, 403, cmds.refused);
      }
      head = cmds.head;
    }
    let authorization: string;
    try {
      authorization = await grant.authorization();
    } catch (err) {
      return deny(res, 502, `no GitHub credentials for this repository: ${(err as Error).message}`);
    }
    if (!this.grants.has(m[1]!)) return deny(res, 404, 'unknown or expired git credential grant');

    const target = new URL(grant.upstreamUrl.href + suffix);
    if (suffix === '/info/refs') target.search = `?service=${service}`;
    const headers: Record<string, string> = { authorization };
    for (const h of FORWARD_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const length = req.headers['content-length'];
    // The same bytes go upstream (the push commands read here are written first), so the length holds.
    if (typeof length === 'string') headers['content-length'] = length;
    const lib = target.protocol === 'https:' ? https : http;
    const up = lib.request(target, { method: req.method, headers }, (upRes) => {
      const status = upRes.statusCode ?? 502;
      if (status >= 300 && status < 400) {
        upRes.resume();
        return deny(res, 502, 'the repository answered with a redirect (moved?): update the remote URL');
      }
      if (status === 401) {
        upRes.resume();
        return deny(res, 403, "the repository refused the server's GitHub credentials");
      }
      const out: Record<string, string> = {};
      for (const h of FORWARD_RESPONSE_HEADERS) {
        const v = upRes.headers[h];
        if (typeof v === 'string') out[h] = v;
      }
      res.writeHead(status, out);
      upRes.pipe(res);
    });
    grant.inflight.add(up);
    up.on('close', () => grant.inflight.delete(up));
    up.on('error', (err) => {
      this.logger?.warn('git credential proxy: upstream failed', { grant: grant.label, err: err.message });
      deny(res, 502, 'the repository could not be reached');
    });
    req.on('aborted', () => up.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    if (head) up.write(head);
    req.pipe(up);
    req.resume();
  }

  async close(): Promise<void> {
    for (const g of this.grants.values()) for (const r of g.inflight) r.destroy();
    this.grants.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
