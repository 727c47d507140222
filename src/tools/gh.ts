// The `gh` tool (CONTRACT §9): GitHub pull requests and comments through the GitHub REST API.
// The token lives only in this (server) process: requests are made with `fetch` here, never by a
// child process, and nothing the tool returns contains it.
import { promises as fsp } from 'node:fs';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { resolveInWorkspace } from '../sandbox/path-guard.ts';
import type { SandboxWrapper } from '../sandbox/types.ts';
import { assertRepoInWorkspace, type GitRunOptions, runGit } from './git-exec.ts';
import { type Tool, type ToolContext, ToolError, type ToolResult } from './types.ts';

const OPERATIONS = ['pr_create', 'pr_view', 'pr_list', 'pr_comment', 'issue_comment', 'issue_view'] as const;

export const ghInput = z.object({
  operation: z.enum(OPERATIONS),
  repo: z
    .string()
    .max(200)
    .optional()
    .describe('"owner/name"; default: the GitHub repository of the workspace\'s origin remote'),
  path: z
    .string()
    .max(4096)
    .optional()
    .describe('Repository directory used for the defaults (workspace-relative, default the workspace root)'),
  title: z.string().max(1000).optional().describe('pr_create: the pull request title'),
  body: z
    .string()
    .max(65_000)
    .optional()
    .describe('pr_create: the description; pr_comment/issue_comment: the comment'),
  head: z
    .string()
    .max(255)
    .optional()
    .describe('pr_create: the branch with the changes (default: current branch)'),
  base: z
    .string()
    .max(255)
    .optional()
    .describe("pr_create: the target branch (default: the repository's default branch)"),
  draft: z.boolean().optional().describe('pr_create: open as a draft'),
  number: z
    .number()
    .int()
    .min(1)
    .max(1_000_000_000)
    .optional()
    .describe(
      'pr_view/pr_comment/issue_view/issue_comment: the number (pr_*: default the open PR of the current branch)',
    ),
  state: z.enum(['open', 'closed', 'all']).optional().describe('pr_list: filter (default open)'),
  limit: z.number().int().min(1).max(100).optional().describe('pr_list: how many (default 30)'),
});
export type GhInput = z.infer<typeof ghInput>;

// Owner and name: GitHub's character set, never a `.`/`..` path segment.
const REPO = /^(?!\.{1,2}\/)[A-Za-z0-9_.-]{1,100}\/(?!\.{1,2}$)[A-Za-z0-9_.-]{1,100}$/;
const BRANCH = /^(?!-)[A-Za-z0-9._/+:-]{1,255}$/;
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
function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1');
}

interface GitHubApiError {
  status: number;
  message: string;
}

type Json = Record<string, unknown>;

function str(v: unknown, def = ''): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : def;
}
function login(v: unknown): string {
  return v && typeof v === 'object' ? str((v as Json).login, '?') : '?';
}
function ref(v: unknown): string {
  return v && typeof v === 'object' ? str((v as Json).ref, '?') : '?';
}

export function createGhTool(deps: { config: Config; sandbox: SandboxWrapper }): Tool<GhInput> {
  const { config, sandbox } = deps;
  const apiBase = config.githubApiUrl.replace(/\/+$/, '');
  const token = config.githubToken;
  const defaultApi = /^https:\/\/api\.github\.com$/i.test(apiBase);

  /** Never let the token out, whatever GitHub (or a proxy) echoes back. */
  const scrub = (s: string): string => (token ? s.split(token).join('***') : s);

  function truncate(s: string): string {
    const limit = config.toolOutputLimit;
    return s.length > limit ? `${s.slice(0, limit)}\n[… truncated ${s.length - limit} characters]` : s;
  }

  async function api(
    method: string,
    apiPath: string,
    ctx: ToolContext,
    body?: Json,
  ): Promise<{ ok: true; data: unknown } | { ok: false; error: GitHubApiError }> {
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

  function failure(op: string, e: GitHubApiError): ToolResult {
    const status = e.status ? `HTTP ${e.status}` : 'network error';
    let hint = '';
    if (e.status === 401) hint = " (the server's GITHUB_TOKEN was rejected)";
    else if (e.status === 403 || e.status === 404)
      hint = " (check the repository name and the token's access)";
    return { output: `GitHub ${op} failed: ${status}: ${e.message}${hint}`, isError: true };
  }

  // ---- workspace defaults (repository, current branch) ----

  interface Local {
    o: GitRunOptions;
  }
  const localCache = new WeakMap<GhInput, Promise<Local>>();

  function local(input: GhInput, ctx: ToolContext): Promise<Local> {
    let p = localCache.get(input);
    if (!p) {
      p = (async () => {
        const dir = await resolveInWorkspace(ctx.workspace, input.path ?? '.');
        if (!(await fsp.stat(dir)).isDirectory())
          throw new ToolError('invalid_input', `"${input.path}" is not a directory`);
        const o: GitRunOptions = {
          config,
          sandbox,
          workspace: ctx.workspace,
          cwd: dir,
          env: ctx.env,
          signal: ctx.signal,
        };
        const top = await assertRepoInWorkspace(dir, o);
        return { o: { ...o, cwd: top } };
      })();
      localCache.set(input, p);
    }
    return p;
  }

  async function repoOf(input: GhInput, ctx: ToolContext): Promise<string> {
    if (input.repo !== undefined) {
      const r = input.repo.trim().replace(/\.git$/, '');
      if (!REPO.test(r))
        throw new ToolError('invalid_input', `"repo" must be "owner/name", got "${input.repo}"`);
      return r;
    }
    const { o } = await local(input, ctx).catch((err: unknown) => {
      throw new ToolError(
        'no_repository',
        `Give "repo" ("owner/name"): the workspace is not a git repository with an origin remote (${(err as Error).message})`,
      );
    });
    const res = await runGit(['remote', 'get-url', 'origin'], o);
    const url = res.output.trim();
    if (res.exitCode !== 0 || !url) {
      throw new ToolError(
        'no_repository',
        'Give "repo" ("owner/name"): the repository has no "origin" remote',
      );
    }
    const parsed = parseGitHubRemote(url);
    if (!parsed || (defaultApi && parsed.host !== 'github.com')) {
      throw new ToolError(
        'no_repository',
        `Give "repo" ("owner/name"): the origin remote ${redactUrl(url)} is not a GitHub repository`,
      );
    }
    return parsed.repo;
  }

  async function currentBranch(input: GhInput, ctx: ToolContext): Promise<string> {
    const { o } = await local(input, ctx).catch((err: unknown) => {
      throw new ToolError(
        'no_branch',
        `Give "head": cannot read the current branch (${(err as Error).message})`,
      );
    });
    const res = await runGit(['symbolic-ref', '--quiet', '--short', 'HEAD'], o);
    const name = res.output.trim();
    if (res.exitCode !== 0 || !name) throw new ToolError('no_branch', 'Give "head": HEAD is detached');
    return name;
  }

  function checkBranch(name: string, field: string): string {
    if (!BRANCH.test(name)) throw new ToolError('invalid_input', `Invalid ${field} "${name}"`);
    return name;
  }

  /** The number of the open pull request whose head is the current branch. */
  async function prForCurrentBranch(input: GhInput, repo: string, ctx: ToolContext): Promise<number> {
    const branch = await currentBranch(input, ctx);
    const owner = repo.split('/')[0]!;
    const q = new URLSearchParams({ head: `${owner}:${branch}`, state: 'open', per_page: '1' });
    const r = await api('GET', `/repos/${repo}/pulls?${q}`, ctx);
    if (!r.ok) throw new ToolError('github_error', failure('pull request lookup', r.error).output);
    const first = Array.isArray(r.data) ? (r.data[0] as Json | undefined) : undefined;
    const n = first && typeof first.number === 'number' ? first.number : undefined;
    if (!n)
      throw new ToolError(
        'not_found',
        `No open pull request for branch "${branch}" in ${repo}; give "number"`,
      );
    return n;
  }

  // ---- operations ----

  async function prCreate(input: GhInput, repo: string, ctx: ToolContext): Promise<ToolResult> {
    const title = input.title?.trim();
    if (!title) throw new ToolError('invalid_input', 'gh pr_create needs "title"');
    const head = checkBranch(input.head ?? (await currentBranch(input, ctx)), 'head');
    let base = input.base;
    if (base === undefined) {
      const r = await api('GET', `/repos/${repo}`, ctx);
      if (!r.ok) return failure('repository lookup', r.error);
      base = str((r.data as Json | null)?.default_branch);
      if (!base)
        return { output: `GitHub did not report a default branch for ${repo}; give "base"`, isError: true };
    }
    checkBranch(base, 'base');
    const payload: Json = { title, head, base, body: input.body ?? '' };
    if (input.draft !== undefined) payload.draft = input.draft;
    const r = await api('POST', `/repos/${repo}/pulls`, ctx, payload);
    if (!r.ok) return failure('pr_create', r.error);
    const pr = r.data as Json;
    const url = str(pr.html_url);
    const number = typeof pr.number === 'number' ? pr.number : Number(pr.number);
    return {
      output: `Created pull request #${number} (${head} → ${base}) in ${repo}: ${url}`,
      isError: false,
      meta: { pullRequest: { url, number, repo, head, base } },
    };
  }

  function formatPr(pr: Json): string {
    const lines = [
      `#${str(pr.number)} ${str(pr.title)}`,
      `State: ${pr.merged_at ? 'merged' : str(pr.state)}${pr.draft ? ' (draft)' : ''}`,
      `Author: ${login(pr.user)}`,
      `Branches: ${ref(pr.head)} → ${ref(pr.base)}`,
      `URL: ${str(pr.html_url)}`,
    ];
    if (typeof pr.mergeable === 'boolean') lines.push(`Mergeable: ${pr.mergeable ? 'yes' : 'no'}`);
    if (typeof pr.comments === 'number') lines.push(`Comments: ${pr.comments}`);
    const body = str(pr.body).trim();
    lines.push('', body || '(no description)');
    return lines.join('\n');
  }

  async function prView(input: GhInput, repo: string, ctx: ToolContext): Promise<ToolResult> {
    const n = input.number ?? (await prForCurrentBranch(input, repo, ctx));
    const r = await api('GET', `/repos/${repo}/pulls/${n}`, ctx);
    if (!r.ok) return failure('pr_view', r.error);
    return { output: truncate(formatPr(r.data as Json)), isError: false };
  }

  async function prList(input: GhInput, repo: string, ctx: ToolContext): Promise<ToolResult> {
    const state = input.state ?? 'open';
    const q = new URLSearchParams({ state, per_page: String(input.limit ?? 30) });
    if (input.head) q.set('head', `${repo.split('/')[0]}:${checkBranch(input.head, 'head')}`);
    if (input.base) q.set('base', checkBranch(input.base, 'base'));
    const r = await api('GET', `/repos/${repo}/pulls?${q}`, ctx);
    if (!r.ok) return failure('pr_list', r.error);
    const list = Array.isArray(r.data) ? (r.data as Json[]) : [];
    if (list.length === 0)
      return { output: `No ${state === 'all' ? '' : `${state} `}pull requests in ${repo}.`, isError: false };
    const lines = list.map(
      (pr) =>
        `#${str(pr.number)} ${str(pr.title)} [${pr.merged_at ? 'merged' : str(pr.state)}${pr.draft ? ', draft' : ''}] ` +
        `${ref(pr.head)} → ${ref(pr.base)} by ${login(pr.user)} ${str(pr.html_url)}`,
    );
    return { output: truncate(lines.join('\n')), isError: false };
  }

  async function comment(input: GhInput, repo: string, ctx: ToolContext, isPr: boolean): Promise<ToolResult> {
    const op = isPr ? 'pr_comment' : 'issue_comment';
    const body = input.body;
    if (!body?.trim()) throw new ToolError('invalid_input', `gh ${op} needs "body"`);
    let n = input.number;
    if (n === undefined) {
      if (!isPr) throw new ToolError('invalid_input', 'gh issue_comment needs "number"');
      n = await prForCurrentBranch(input, repo, ctx);
    }
    const r = await api('POST', `/repos/${repo}/issues/${n}/comments`, ctx, { body });
    if (!r.ok) return failure(op, r.error);
    const c = r.data as Json;
    const url = str(c.html_url);
    return {
      output: `Commented on ${isPr ? 'pull request' : 'issue'} #${n} in ${repo}: ${url}`,
      isError: false,
      meta: { comment: { url, id: c.id, number: n, repo } },
    };
  }

  async function issueView(input: GhInput, repo: string, ctx: ToolContext): Promise<ToolResult> {
    const n = input.number;
    if (n === undefined) throw new ToolError('invalid_input', 'gh issue_view needs "number"');
    const r = await api('GET', `/repos/${repo}/issues/${n}`, ctx);
    if (!r.ok) return failure('issue_view', r.error);
    const issue = r.data as Json;
    const labels = Array.isArray(issue.labels)
      ? issue.labels.map((l) => (typeof l === 'string' ? l : str((l as Json | null)?.name))).filter(Boolean)
      : [];
    const lines = [
      `#${str(issue.number)} ${str(issue.title)}${issue.pull_request ? ' (pull request)' : ''}`,
      `State: ${str(issue.state)}`,
      `Author: ${login(issue.user)}`,
    ];
    if (labels.length) lines.push(`Labels: ${labels.join(', ')}`);
    lines.push(`URL: ${str(issue.html_url)}`, '', str(issue.body).trim() || '(no description)');
    const count = typeof issue.comments === 'number' ? issue.comments : 0;
    if (count > 0) {
      const c = await api('GET', `/repos/${repo}/issues/${n}/comments?per_page=30`, ctx);
      if (c.ok && Array.isArray(c.data)) {
        lines.push(
          '',
          `Comments (${count}${count > c.data.length ? `, first ${c.data.length} shown` : ''}):`,
        );
        for (const item of c.data as Json[]) {
          lines.push('', `--- ${login(item.user)} at ${str(item.created_at)}:`, str(item.body).trim());
        }
      }
    }
    return { output: truncate(lines.join('\n')), isError: false };
  }

  async function execute(input: GhInput, ctx: ToolContext): Promise<ToolResult> {
    if (!token) {
      return {
        output: 'GITHUB_TOKEN is not configured on the server, so GitHub operations are unavailable.',
        isError: true,
      };
    }
    const repo = await repoOf(input, ctx);
    switch (input.operation) {
      case 'pr_create':
        return prCreate(input, repo, ctx);
      case 'pr_view':
        return prView(input, repo, ctx);
      case 'pr_list':
        return prList(input, repo, ctx);
      case 'pr_comment':
        return comment(input, repo, ctx, true);
      case 'issue_comment':
        return comment(input, repo, ctx, false);
      case 'issue_view':
        return issueView(input, repo, ctx);
    }
  }

  return {
    name: 'gh',
    description:
      'GitHub operations through the GitHub API (the server holds the credentials). Operations: ' +
      'pr_create (title, body?, head? = current branch, base? = default branch, draft?), ' +
      'pr_view (number? = open PR of the current branch), pr_list (state?, head?, base?, limit?), ' +
      'pr_comment (body, number? = open PR of the current branch), issue_comment (number, body), ' +
      'issue_view (number). "repo" ("owner/name") defaults to the origin remote of the workspace ' +
      'repository. Push the branch with the git tool before pr_create.',
    input: ghInput,
    execute,
  };
}
