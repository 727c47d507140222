// A fake GitHub REST API on loopback that checks requests the way GitHub does: the auth header forms
// (`token X`, `Bearer X`; App JWTs only as Bearer, RS256-verified with the App's public key, `iss`
// and expiry checked), JSON bodies, required fields, and GitHub's answers (401 Bad credentials,
// 404 for what the credential cannot see, 422 Validation Failed). Installation tokens it mints are
// valid for the repositories they were minted for, until their `expires_at` by the fake's clock.
import { createVerify, generateKeyPairSync, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization?: string;
  contentType?: string;
  body: unknown;
  /** Who the request authenticated as: `token:<value>`, `app`, or undefined (refused). */
  as?: string;
}

export interface FakeGitHubOptions {
  /** Personal tokens: each may see every repository. */
  tokens?: string[];
  /** owner/name → default branch. */
  repos?: Record<string, { defaultBranch?: string }>;
  /** The App: its id, and the installation id per repository it is installed on. */
  app?: { appId: string; installations: Record<string, number> };
  /** Whether `branch` exists in `repo` (pull request heads and bases are checked against it). */
  branchExists?(repo: string, branch: string): boolean;
  /** The fake's clock (token expiry, JWT checks); default Date.now. */
  now?(): number;
  /** Lifetime of minted installation tokens. */
  tokenTtlMs?: number;
}

export interface FakeGitHub {
  url: string;
  seen: SeenRequest[];
  /** The App's private key (PEM), when `app` was given. */
  privateKeyPem?: string;
  pulls: Array<{
    repo: string;
    number: number;
    title: string;
    head: string;
    base: string;
    body: string;
    draft: boolean;
  }>;
  /** Installation tokens minted so far, newest last. */
  minted: Array<{ token: string; repo: string; expiresAt: number }>;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, data: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(data));
}
const DOCS = { documentation_url: 'https://docs.github.com/rest' };
const badCredentials = (res: http.ServerResponse) => send(res, 401, { message: 'Bad credentials', ...DOCS });
const notFound = (res: http.ServerResponse) => send(res, 404, { message: 'Not Found', ...DOCS });
const invalid = (res: http.ServerResponse, errors: unknown[], message = 'Validation Failed') =>
  send(res, 422, { message, errors, ...DOCS });

function verifyJwt(jwt: string, key: KeyObject, appId: string, nowMs: number): boolean {
  const [h, p, sig] = jwt.split('.');
  if (!h || !p || !sig) return false;
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string };
    if (header.alg !== 'RS256') return false;
    const v = createVerify('RSA-SHA256');
    v.update(`${h}.${p}`);
    if (!v.verify(key, Buffer.from(sig, 'base64url'))) return false;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as {
      iat: number;
      exp: number;
      iss: unknown;
    };
    const now = Math.floor(nowMs / 1000);
    // GitHub: iss is the App id, exp at most 10 minutes after iat, not expired, iat not in the future.
    return (
      String(claims.iss) === appId &&
      claims.exp > now &&
      claims.iat <= now + 60 &&
      claims.exp - claims.iat <= 600
    );
  } catch {
    return false;
  }
}

export async function startFakeGitHub(o: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const now = o.now ?? Date.now;
  const ttl = o.tokenTtlMs ?? 3600_000;
  let publicKey: KeyObject | undefined;
  let privateKeyPem: string | undefined;
  if (o.app) {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    publicKey = pair.publicKey;
    privateKeyPem = pair.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  }
  const seen: SeenRequest[] = [];
  const pulls: FakeGitHub['pulls'] = [];
  const minted: FakeGitHub['minted'] = [];
  const tokens = new Set(o.tokens ?? []);
  const repos = o.repos ?? {};
  let mintCount = 0;

  /** What the credential may see: every repository (a personal token), some (an installation token), or none. */
  const canSee = (as: string | undefined, repo: string): boolean => {
    if (!as?.startsWith('token:')) return false;
    const t = as.slice(6);
    if (tokens.has(t)) return true;
    const m = minted.find((x) => x.token === t);
    return m !== undefined && m.repo.toLowerCase() === repo.toLowerCase() && m.expiresAt > now();
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const raw = Buffer.concat(chunks).toString('utf8');
      const s: SeenRequest = {
        method: req.method ?? '',
        path: u.pathname,
        query: u.searchParams,
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body: undefined,
      };
      seen.push(s);
      if (raw) {
        if (!/^application\/json/.test(s.contentType ?? ''))
          return send(res, 415, { message: 'Unsupported Media Type', ...DOCS });
        try {
          s.body = JSON.parse(raw);
        } catch {
          return send(res, 400, { message: 'Problems parsing JSON', ...DOCS });
        }
      }
      // Authentication: `token X` or `Bearer X` for tokens; an App JWT only as Bearer.
      const auth = /^(token|bearer) (\S+)$/i.exec(s.authorization ?? '');
      if (auth) {
        const value = auth[2]!;
        if (value.split('.').length === 3 && auth[1]!.toLowerCase() === 'bearer' && o.app && publicKey) {
          if (!verifyJwt(value, publicKey, o.app.appId, now())) return badCredentials(res);
          s.as = 'app';
        } else if (tokens.has(value) || minted.some((m) => m.token === value && m.expiresAt > now())) {
          s.as = `token:${value}`;
        } else return badCredentials(res);
      } else if (s.authorization) return badCredentials(res);

      const body = (s.body ?? {}) as Record<string, unknown>;
      // --- App endpoints (JWT only) ---
      const inst = /^\/repos\/([^/]+)\/([^/]+)\/installation$/.exec(u.pathname);
      if (inst && s.method === 'GET') {
        if (s.as !== 'app')
          return s.as
            ? send(res, 401, { message: 'A JSON web token could not be decoded', ...DOCS })
            : badCredentials(res);
        const id = o.app?.installations[`${inst[1]}/${inst[2]}`];
        return id === undefined ? notFound(res) : send(res, 200, { id, app_id: Number(o.app!.appId) });
      }
      const mint = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(u.pathname);
      if (mint && s.method === 'POST') {
        if (s.as !== 'app') return badCredentials(res);
        const id = Number(mint[1]);
        const installed = Object.entries(o.app?.installations ?? {}).filter(([, v]) => v === id);
        if (installed.length === 0) return notFound(res);
        const wanted = Array.isArray(body.repositories) ? (body.repositories as unknown[]) : undefined;
        if (wanted?.length !== 1 || typeof wanted[0] !== 'string')
          return invalid(res, [{ resource: 'Installation', field: 'repositories', code: 'invalid' }]);
        const repo = installed.find(([r]) => r.split('/')[1] === wanted[0])?.[0];
        if (!repo)
          return invalid(
            res,
            [],
            'There is at least one repository that does not exist or is not accessible to the parent installation.',
          );
        const token = `ghs_fake${++mintCount}_${Math.random().toString(36).slice(2, 12)}`;
        const expiresAt = now() + ttl;
        minted.push({ token, repo, expiresAt });
        return send(res, 201, {
          token,
          expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          permissions: { contents: 'write', pull_requests: 'write' },
          repository_selection: 'selected',
        });
      }
      // --- repository endpoints (tokens) ---
      const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(u.pathname);
      if (!m) return notFound(res);
      const repo = `${m[1]}/${m[2]}`;
      const rest = m[3] ?? '';
      if (!s.as) return s.method === 'GET' ? notFound(res) : badCredentials(res);
      // A credential that cannot see the repository gets 404, as on GitHub.
      if (!repos[repo] || !canSee(s.as, repo)) return notFound(res);
      const info = repos[repo]!;
      if (rest === '' && s.method === 'GET')
        return send(res, 200, {
          full_name: repo,
          default_branch: info.defaultBranch ?? 'main',
          private: true,
        });
      if (rest === '/pulls' && s.method === 'POST') {
        const missing = ['title', 'head', 'base'].filter(
          (f) => typeof body[f] !== 'string' || body[f] === '',
        );
        if (missing.length)
          return invalid(
            res,
            missing.map((field) => ({ resource: 'PullRequest', field, code: 'missing_field' })),
          );
        const head = String(body.head);
        const base = String(body.base);
        const headBranch = head.includes(':') ? head.split(':')[1]! : head;
        const errors = [];
        if (o.branchExists && !o.branchExists(repo, headBranch))
          errors.push({ resource: 'PullRequest', field: 'head', code: 'invalid' });
        if (o.branchExists && !o.branchExists(repo, base))
          errors.push({ resource: 'PullRequest', field: 'base', code: 'invalid' });
        if (errors.length) return invalid(res, errors);
        if (pulls.some((p) => p.repo === repo && p.head === headBranch && p.base === base))
          return invalid(res, [
            {
              resource: 'PullRequest',
              code: 'custom',
              message: `A pull request already exists for ${m[1]}:${headBranch}.`,
            },
          ]);
        const number = pulls.length + 1;
        const pr = {
          repo,
          number,
          title: String(body.title),
          head: headBranch,
          base,
          body: String(body.body ?? ''),
          draft: body.draft === true,
        };
        pulls.push(pr);
        return send(res, 201, {
          number,
          title: pr.title,
          state: 'open',
          draft: pr.draft,
          html_url: `https://github.com/${repo}/pull/${number}`,
          head: { ref: headBranch },
          base: { ref: base },
          user: { login: 'duyetbot[bot]' },
          body: pr.body,
        });
      }
      if (rest === '/pulls' && s.method === 'GET') {
        const head = u.searchParams.get('head');
        const list = pulls.filter((p) => p.repo === repo && (!head || `${m[1]}:${p.head}` === head));
        return send(
          res,
          200,
          list.map((p) => ({
            number: p.number,
            title: p.title,
            state: 'open',
            html_url: `https://github.com/${repo}/pull/${p.number}`,
            head: { ref: p.head },
            base: { ref: p.base },
          })),
        );
      }
      return notFound(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    pulls,
    minted,
    ...(privateKeyPem ? { privateKeyPem } : {}),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
