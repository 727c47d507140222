// The `gh` tool (docs/api.md §9): GitHub pull requests and comments through the GitHub REST API
// (@octokit/rest). The token — GITHUB_TOKEN, or a GitHub App's installation token for the
// repository — lives only in this (server) process: requests are made here, never by a child
// process, and nothing the tool returns contains it.
//
// Split by job: gh-api.ts (remote parsing, the REST client), gh-ops.ts (the operations). This file
// holds the input schema, the workspace defaults (repository, current branch) and the dispatch.
import { promises as fsp } from 'node:fs';
import { z } from 'zod';
import type { Config } from '../config.ts';
import type { SandboxWrapper } from '../sandbox/types.ts';
import { resolveInWorkspace } from '../sandbox/workspace/path-guard.ts';
import { createGitHubCredentials, type GitHubCredentials } from '../security/github-credentials.ts';
import { createGitHubClient, parseGitHubRemote, REPO, redactUrl } from './gh-api.ts';
import { createGhOperations } from './gh-ops.ts';
import { type GitRepository, openRepository } from './git-exec.ts';
import { type Tool, type ToolContext, ToolError, type ToolResult } from './types.ts';

export { parseGitHubRemote } from './gh-api.ts';

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

export function createGhTool(deps: {
  config: Config;
  sandbox: SandboxWrapper;
  /** Default: GITHUB_TOKEN (or the App) from the configuration. */
  github?: GitHubCredentials;
}): Tool<GhInput> {
  const { config, sandbox } = deps;
  const apiBase = config.githubApiUrl.replace(/\/+$/, '');
  const github =
    deps.github ??
    createGitHubCredentials({ token: config.githubToken, app: config.githubApp, apiUrl: apiBase });
  // Remotes on GITHUB_GIT_URL's host name the repository (github.com unless configured).
  const gitHost = new URL(config.githubGitUrl).hostname.toLowerCase();

  function truncate(s: string): string {
    const limit = config.toolOutputLimit;
    return s.length > limit ? `${s.slice(0, limit)}\n[… truncated ${s.length - limit} characters]` : s;
  }

  const { api } = createGitHubClient(apiBase, github);

  // ---- workspace defaults (repository, current branch) ----

  interface Local {
    repo: GitRepository;
  }
  const localCache = new WeakMap<GhInput, Promise<Local>>();

  function local(input: GhInput, ctx: ToolContext): Promise<Local> {
    let p = localCache.get(input);
    if (!p) {
      p = (async () => {
        const dir = await resolveInWorkspace(ctx.workspace, input.path ?? '.');
        if (!(await fsp.stat(dir)).isDirectory())
          throw new ToolError('invalid_input', `"${input.path}" is not a directory`);
        const repo = await openRepository(dir, {
          config,
          sandbox,
          workspace: ctx.workspace,
          env: ctx.env,
          signal: ctx.signal,
        });
        return { repo };
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
    const { repo } = await local(input, ctx).catch((err: unknown) => {
      throw new ToolError(
        'no_repository',
        `Give "repo" ("owner/name"): the workspace is not a git repository with an origin remote (${(err as Error).message})`,
      );
    });
    const res = await repo.run(['remote', 'get-url', 'origin']);
    const url = res.output.trim();
    if (res.exitCode !== 0 || !url) {
      throw new ToolError(
        'no_repository',
        'Give "repo" ("owner/name"): the repository has no "origin" remote',
      );
    }
    const parsed = parseGitHubRemote(url);
    if (!parsed || parsed.host !== gitHost) {
      throw new ToolError(
        'no_repository',
        `Give "repo" ("owner/name"): the origin remote ${redactUrl(url)} is not a GitHub repository`,
      );
    }
    return parsed.repo;
  }

  async function currentBranch(input: GhInput, ctx: ToolContext): Promise<string> {
    const { repo } = await local(input, ctx).catch((err: unknown) => {
      throw new ToolError(
        'no_branch',
        `Give "head": cannot read the current branch (${(err as Error).message})`,
      );
    });
    const res = await repo.run(['symbolic-ref', '--quiet', '--short', 'HEAD']);
    const name = res.output.trim();
    if (res.exitCode !== 0 || !name) throw new ToolError('no_branch', 'Give "head": HEAD is detached');
    return name;
  }

  const { prCreate, prView, prList, comment, issueView } = createGhOperations({
    api,
    truncate,
    currentBranch,
  });

  async function execute(input: GhInput, ctx: ToolContext): Promise<ToolResult> {
    if (!github.configured) {
      return {
        output:
          'No GitHub credentials are configured on the server (GITHUB_TOKEN or GITHUB_APP_ID/GITHUB_APP_PRIVATE_KEY), so GitHub operations are unavailable.',
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
      'repository. Push the branch with the git tool before pr_create. The gh CLI is not available in the shell: ' +
      'this tool is how to reach GitHub.',
    input: ghInput,
    execute,
  };
}
