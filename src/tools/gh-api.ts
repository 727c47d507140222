// GitHub remote parsing and the REST client of the gh tool. The token is used here only, and
// scrubbed from every message that could reach the agent.
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

/** `apiBase`: GITHUB_API_URL without trailing slashes. */
export function createGitHubClient(apiBase: string, token: string | undefined): GitHubClient {
  /** Never let the token out, whatever GitHub (or a proxy) echoes back. */
  const scrub = (s: string): string => (token ? s.split(token).join('***') : s);

  async function api(method: string, apiPath: string, ctx: ToolContext, body?: Json): Promise<ApiResult> {
    const headers: Record<string, string> = {
      Accept: 'application/vnd.github+json',
      'X-GitHub-Api-Version': '2022-11-28',
      'User-Agent': 'duyetbot-agent-server',
      Authorization: `Bearer ${token}`,
    };
    if (body) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${apiBase}${apiPath}`, {
        method,
        headers,
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
        redirect: 'follow',
      });
    } catch (err) {
      if (ctx.signal.aborted) throw new ToolError('aborted', 'The GitHub request was cancelled');
      const e = err as Error;
      const why = e.name === 'TimeoutError' ? `timed out after ${REQUEST_TIMEOUT_MS} ms` : e.message;
      const cause = (e.cause as Error | undefined)?.message;
      return {
        ok: false,
        error: { status: 0, message: scrub(`request failed: ${why}${cause ? ` (${cause})` : ''}`) },
      };
    }
    const text = await res.text().catch(() => '');
    let data: unknown = text;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON (proxy error page): keep the text.
    }
    if (!res.ok) return { ok: false, error: { status: res.status, message: scrub(errorMessage(res, data)) } };
    return { ok: true, data };
  }

  return { api };
}

function errorMessage(res: Response, data: unknown): string {
  if (data && typeof data === 'object') {
    const d = data as Json;
    let msg = str(d.message, res.statusText);
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
  return t || res.statusText || 'request failed';
}

export function failure(op: string, e: GitHubApiError): ToolResult {
  const status = e.status ? `HTTP ${e.status}` : 'network error';
  let hint = '';
  if (e.status === 401) hint = " (the server's GITHUB_TOKEN was rejected)";
  else if (e.status === 403 || e.status === 404) hint = " (check the repository name and the token's access)";
  return { output: `GitHub ${op} failed: ${status}: ${e.message}${hint}`, isError: true };
}
