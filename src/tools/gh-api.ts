// GitHub remote parsing and the REST client of the gh tool. The token is used here only, and
// scrubbed from every message that could reach the agent.
import { Octokit } from '@octokit/rest';
import { GitHubAuthError, type GitHubCredentials } from '../security/github-credentials.ts';
import { type ToolContext, ToolError, type ToolResult } from './types.ts';

// Owner and name: GitHub's character set, never a `.`/`..` path segment.
export const REPO = /^(?!\.{1,2}\/)[A-Za-z0-9_.-]{1,100}\/(?!\.{1,2}$)[A-Za-z0-9_.-]{1,100}$/;
const REQUEST_TIMEOUT_MS = 30_000;

/** `owner/name` from a GitHub remote URL (https, scp-like ssh, ssh://), or undefined. */
export function parseGitHubRemote(url: string): { host: string; repo: string } | undefined {
  const u = url.trim();
  let host: string;
  let rest: string;
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/.exec(u);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      return undefined;
    }
    if (!['https:', 'http:', 'ssh:', 'git:', 'git+ssh:', 'ssh+git:'].includes(parsed.protocol))
      return undefined;
    host = parsed.hostname;
    rest = parsed.pathname;
  } else if (scp) {
    host = scp[1]!;
    rest = scp[2]!;
  } else {
    return undefined;
  }
  const parts = rest
    .replace(/\/+$/, '')
    .replace(/\.git$/, '')
    .split('/')
    .filter(Boolean);
  if (parts.length !== 2) return undefined;
  const repo = `${parts[0]}/${parts[1]}`;
  return REPO.test(repo) ? { host: host.toLowerCase(), repo } : undefined;
}

/** Removes credentials (userinfo) from a URL before it appears in a message. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1');
}

export interface GitHubApiError {
  status: number;
  message: string;
}

export type Json = Record<string, unknown>;

/** A JSON string (or number) field as text. */
export function str(v: unknown, def = ''): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : def;
}

export type ApiResult = { ok: true; data: unknown } | { ok: false; error: GitHubApiError };

export interface GitHubClient {
  /** One REST call; network and HTTP failures come back as `ok: false` (cancellation throws). */
  api(method: string, apiPath: string, ctx: ToolContext, body?: Json): Promise<ApiResult>;
}

/** Octokit's RequestError (an HTTP answer that was not 2xx), without importing its package. */
function httpError(err: unknown): { status: number; data: unknown } | undefined {
  if (!(err instanceof Error) || err.name !== 'HttpError') return undefined;
  const e = err as Error & { status?: unknown; response?: { data?: unknown } };
  return typeof e.status === 'number' && e.status > 0 && e.response
    ? { status: e.status, data: e.response.data }
    : undefined;
}

/** `owner/name` of a `/repos/{owner}/{name}/…` path: the repository whose token the call needs. */
function repoOfPath(apiPath: string): string | undefined {
  const m = /^\/repos\/([^/?]+)\/([^/?]+)/.exec(apiPath);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

/**
 * The gh tool's REST client on @octokit/rest. `apiBase`: GITHUB_API_URL without trailing slashes.
 * The token is asked of `credentials` per call and per repository (a GitHub App's installation
 * tokens are per repository and expire), sent only to `apiBase`, and scrubbed from any message.
 */
export function createGitHubClient(apiBase: string, credentials: GitHubCredentials): GitHubClient {
  const octokit = new Octokit({ baseUrl: apiBase, userAgent: 'duyetbot-agent-server' });
  /** Never let a token out, whatever GitHub (or a proxy) echoes back. */
  const scrub = (s: string): string =>
    credentials.liveTokens().reduce((t, token) => (token ? t.split(token).join('***') : t), s);

  async function api(method: string, apiPath: string, ctx: ToolContext, body?: Json): Promise<ApiResult> {
    const repo = repoOfPath(apiPath);
    let token: string | undefined;
    try {
      token = repo ? await credentials.tokenFor(repo, ctx.signal) : undefined;
    } catch (err) {
      const status = err instanceof GitHubAuthError ? err.status : 0;
      return { ok: false, error: { status, message: scrub((err as Error).message) } };
    }
    try {
      const res = await octokit.request(`${method} ${apiPath}`, {
        headers: {
          accept: 'application/vnd.github+json',
          'x-github-api-version': '2022-11-28',
          ...(token ? { authorization: `token ${token}` } : {}),
        },
        ...(body ? { data: body } : {}),
        request: { signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) },
      });
      return { ok: true, data: res.data };
    } catch (err) {
      if (ctx.signal.aborted) throw new ToolError('aborted', 'The GitHub request was cancelled');
      const http = httpError(err);
      if (http)
        return {
          ok: false,
          error: { status: http.status, message: scrub(errorMessage(http.status, http.data)) },
        };
      const e = err as Error;
      const why = /timeout|aborted/i.test(e.name) ? `timed out after ${REQUEST_TIMEOUT_MS} ms` : e.message;
      const cause = (e.cause as Error | undefined)?.message;
      return {
        ok: false,
        error: { status: 0, message: scrub(`request failed: ${why}${cause ? ` (${cause})` : ''}`) },
      };
    }
  }

  return { api };
}

function errorMessage(status: number, data: unknown): string {
  if (data && typeof data === 'object') {
    const d = data as Json;
    let msg = str(d.message, `HTTP ${status}`);
    if (Array.isArray(d.errors)) {
      const details = d.errors
        .map((e) => {
          if (typeof e === 'string') return e;
          if (!e || typeof e !== 'object') return '';
          const o = e as Json;
          return (
            str(o.message) || [o.resource, o.field, o.code].filter((x) => typeof x === 'string').join(' ')
          );
        })
        .filter(Boolean);
      if (details.length) msg += `: ${details.join('; ')}`;
    }
    return msg;
  }
  const t = typeof data === 'string' ? data.trim().slice(0, 500) : '';
  return t || `HTTP ${status}`;
}

export function failure(op: string, e: GitHubApiError): ToolResult {
  const status = e.status ? `HTTP ${e.status}` : 'network error';
  let hint = '';
  if (e.status === 401) hint = " (the server's GitHub credentials were rejected)";
  else if (e.status === 403 || e.status === 404) hint = " (check the repository name and the token's access)";
  return { output: `GitHub ${op} failed: ${status}: ${e.message}${hint}`, isError: true };
}
