// The gh tool's operations on pull requests and issues (create, view, list, comment), as tool results.
import type { GhInput } from './gh.ts';
import { failure, type GitHubClient, type Json, str } from './gh-api.ts';
import { type ToolContext, ToolError, type ToolResult } from './types.ts';

const BRANCH = /^(?!-)[A-Za-z0-9._/+:-]{1,255}$/;

function login(v: unknown): string {
  return v && typeof v === 'object' ? str((v as Json).login, '?') : '?';
}
function ref(v: unknown): string {
  return v && typeof v === 'object' ? str((v as Json).ref, '?') : '?';
}

export interface GhOperationDeps {
  api: GitHubClient['api'];
  /** Cuts a long output to the configured tool output limit. */
  truncate(s: string): string;
  /** The workspace repository's current branch (throws when there is none). */
  currentBranch(input: GhInput, ctx: ToolContext): Promise<string>;
}

export type GhOperation = (input: GhInput, repo: string, ctx: ToolContext) => Promise<ToolResult>;

export function createGhOperations(deps: GhOperationDeps): {
  prCreate: GhOperation;
  prView: GhOperation;
  prList: GhOperation;
  comment(input: GhInput, repo: string, ctx: ToolContext, isPr: boolean): Promise<ToolResult>;
  issueView: GhOperation;
} {
  const { api, truncate, currentBranch } = deps;

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

  return { prCreate, prView, prList, comment, issueView };
}
