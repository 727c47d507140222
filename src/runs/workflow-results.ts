// What a finished workflow reports: the agent's final answer, and from git (never from the model's
// word) the files it changed and the commits it made since the workspace was cloned.
import type { Config } from '../config.ts';
import type { WorkflowResult } from '../protocol/index.ts';
import type { SandboxWrapper } from '../sandbox/types.ts';
import { type GitRepository, openRepository } from '../tools/git-exec.ts';

export interface GitFactsOptions {
  config: Config;
  sandbox: SandboxWrapper;
  workspace: string;
  env: Record<string, string>;
  baseSha?: string;
}

async function git(repo: GitRepository, args: string[]): Promise<string | undefined> {
  const res = await repo.run(args);
  return res.exitCode === 0 ? res.output : undefined;
}

/**
 * Reads the facts through `openRepository`, which refuses a workspace whose repository lies outside
 * it or whose config names commands (a filter driver the agent configured would otherwise run here,
 * after the run): that throws, and the caller reports no facts.
 */
export async function gitFacts(
  o: GitFactsOptions,
): Promise<Pick<WorkflowResult, 'changedFiles' | 'commits'>> {
  if (!o.baseSha || !/^[0-9a-f]{40,64}$/.test(o.baseSha)) return {};
  const repo = await openRepository(o.workspace, {
    config: o.config,
    sandbox: o.sandbox,
    workspace: o.workspace,
    env: o.env,
    timeoutMs: 30_000,
  });
  const log = await git(repo, ['log', '--no-color', '--format=%H%x1f%s', `${o.baseSha}..HEAD`]);
  const diff = await git(repo, ['diff', '--no-ext-diff', '--no-textconv', '--name-only', o.baseSha]);
  const untracked = await git(repo, ['ls-files', '--others', '--exclude-standard']);
  const commits = (log ?? '')
    .split('\n')
    .filter((l) => l.includes('\x1f'))
    .map((l) => {
      const [sha, message] = l.split('\x1f');
      return { sha: sha!.trim(), message: (message ?? '').trim() };
    })
    .reverse();
  const files = new Set<string>();
  for (const l of `${diff ?? ''}\n${untracked ?? ''}`.split('\n')) if (l.trim()) files.add(l.trim());
  return { changedFiles: [...files].sort(), commits };
}

/** The pull request URL a tool reported (the `gh` tool's meta), if any. */
export function pullRequestUrl(toolMeta: Array<Record<string, unknown>>): string | undefined {
  for (let i = toolMeta.length - 1; i >= 0; i--) {
    const m = toolMeta[i]!;
    const pr = m.pullRequest as { url?: unknown } | undefined;
    if (pr && typeof pr.url === 'string') return pr.url;
    if (typeof m.pullRequestUrl === 'string') return m.pullRequestUrl;
  }
  return undefined;
}

/** The branch the run last pushed with the `git` tool (or the head of the pull request it opened). */
export function pushedBranch(toolMeta: Array<Record<string, unknown>>): string | undefined {
  for (let i = toolMeta.length - 1; i >= 0; i--) {
    const m = toolMeta[i]!;
    const push = m.push as { branch?: unknown } | undefined;
    if (push && typeof push.branch === 'string') return push.branch;
    const pr = m.pullRequest as { head?: unknown } | undefined;
    if (pr && typeof pr.head === 'string') return pr.head;
  }
  return undefined;
}
