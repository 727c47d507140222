// The GitHub credentials of the server: a fixed GITHUB_TOKEN, or a GitHub App (GITHUB_APP_ID +
// GITHUB_APP_PRIVATE_KEY) whose installation tokens are minted per repository, cached, and
// minted again before they expire. Used by the `gh` tool (REST calls) and the git credential
// proxy (git over HTTPS); never handed to a sandboxed process.
//
// App flow (docs.github.com, "Authenticating as a GitHub App installation"):
//   1. a JWT signed with the App's private key (RS256, `iss` = App id, at most 10 minutes);
//   2. `GET /repos/{owner}/{repo}/installation` with it → the installation id;
//   3. `POST /app/installations/{id}/access_tokens` `{"repositories": ["<repo>"]}` → a token
//      valid for that one repository for an hour (`expires_at`).
// Written with node:crypto rather than @octokit/auth-app so the clock can be injected (tests mint
// and refresh on a manual clock) and the per-repository scope and refresh margin are explicit.
import { createPrivateKey, createSign, type KeyObject } from 'node:crypto';
import { type Clock, systemClock } from '../clock.ts';

/** A token this close to its expiry is replaced before use: a push or clone can take minutes. */
export const REFRESH_MARGIN_MS = 10 * 60_000;
const REQUEST_TIMEOUT_MS = 30_000;

export class GitHubAuthError extends Error {
  readonly status: number;
  constructor(message: string, status = 0) {
    super(message);
    this.name = 'GitHubAuthError';
    this.status = status;
  }
}

export interface GitHubCredentials {
  /** Whether any credential is configured (a token or an App). */
  readonly configured: boolean;
  /** `token` (GITHUB_TOKEN) or `app`. */
  readonly kind: 'token' | 'app' | 'none';
  /**
   * A token for `owner/name`; undefined when nothing is configured. Throws GitHubAuthError when the
   * App is not installed on the repository or GitHub refuses.
   */
  tokenFor(repo: string, signal?: AbortSignal): Promise<string | undefined>;
  /** Every token value handed out so far that may still be valid (to scrub from messages). */
  liveTokens(): string[];
}

export interface GitHubCredentialOptions {
  token?: string;
  app?: { appId: string; privateKey: string };
  /** GITHUB_API_URL (no trailing slash needed). */
  apiUrl: string;
  clock?: Clock;
  fetch?: typeof fetch;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** The App's JWT (RS256): issued 60 s in the past against clock drift, valid 9 minutes. */
export function appJwt(appId: string, key: KeyObject, nowMs: number): string {
  const now = Math.floor(nowMs / 1000);
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify({ iat: now - 60, exp: now + 540, iss: appId }));
  const signer = createSign('RSA-SHA256');
  signer.update(`${header}.${payload}`);
  return `${header}.${payload}.${b64url(signer.sign(key))}`;
}

interface Cached {
  token: string;
  expiresAt: number;
}

export function createGitHubCredentials(o: GitHubCredentialOptions): GitHubCredentials {
  const clock = o.clock ?? systemClock;
  const doFetch = o.fetch ?? fetch;
  const api = o.apiUrl.replace(/\/+$/, '');
  if (!o.app) {
    const token = o.token;
    return {
      configured: Boolean(token),
      kind: token ? 'token' : 'none',
      tokenFor: async () => token,
      liveTokens: () => (token ? [token] : []),
    };
  }
  const { appId } = o.app;
  const key = createPrivateKey(o.app.privateKey);
  const tokens = new Map<string, Cached>();
  const installations = new Map<string, number>();
  const pending = new Map<string, Promise<string>>();

  async function call(method: string, path: string, jwt: string, signal?: AbortSignal, body?: unknown) {
    let res: Response;
    try {
      res = await doFetch(`${api}${path}`, {
        method,
        headers: {
          Accept: 'application/vnd.github+json',
          Authorization: `Bearer ${jwt}`,
          'X-GitHub-Api-Version': '2022-11-28',
          'User-Agent': 'duyetbot-agent-server',
          ...(body ? { 'Content-Type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        redirect: 'error',
        signal: signal
          ? AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)])
          : AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new GitHubAuthError(`GitHub App token request failed: ${(err as Error).message}`);
    }
    const text = await res.text().catch(() => '');
    let data: Record<string, unknown> = {};
    try {
      data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // not JSON: keep the status only
    }
    return { status: res.status, data };
  }

  async function mint(repo: string, signal?: AbortSignal): Promise<string> {
    const jwt = appJwt(appId, key, clock.now());
    const cacheKey = repo.toLowerCase();
    let id = installations.get(cacheKey);
    if (id === undefined) {
      const r = await call('GET', `/repos/${repo}/installation`, jwt, signal);
      if (r.status === 404)
        throw new GitHubAuthError(`the GitHub App ${appId} is not installed on ${repo}`, 404);
      if (r.status !== 200 || typeof r.data.id !== 'number')
        throw new GitHubAuthError(
          `GitHub refused the App's installation lookup for ${repo} (HTTP ${r.status}: ${String(r.data.message ?? '')})`,
          r.status,
        );
      id = r.data.id;
      installations.set(cacheKey, id);
    }
    const name = repo.split('/')[1]!;
    const r = await call('POST', `/app/installations/${id}/access_tokens`, jwt, signal, {
      repositories: [name],
    });
    if (r.status === 404) installations.delete(cacheKey); // uninstalled meanwhile: look it up again next time
    const token = r.data.token;
    const expiresAt = typeof r.data.expires_at === 'string' ? Date.parse(r.data.expires_at) : Number.NaN;
    if (r.status !== 201 || typeof token !== 'string' || !Number.isFinite(expiresAt))
      throw new GitHubAuthError(
        `GitHub refused an installation token for ${repo} (HTTP ${r.status}: ${String(r.data.message ?? '')})`,
        r.status,
      );
    tokens.set(repo.toLowerCase(), { token, expiresAt });
    return token;
  }

  return {
    configured: true,
    kind: 'app',
    async tokenFor(repo, signal) {
      const key = repo.toLowerCase();
      const cached = tokens.get(key);
      if (cached && cached.expiresAt - clock.now() > REFRESH_MARGIN_MS) return cached.token;
      let p = pending.get(key);
      if (!p) {
        p = mint(repo, signal).finally(() => pending.delete(key));
        pending.set(key, p);
      }
      return p;
    },
    liveTokens() {
      const now = clock.now();
      return [...tokens.values()].filter((t) => t.expiresAt > now).map((t) => t.token);
    },
  };
}
