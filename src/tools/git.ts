// The `git` tool (CONTRACT §9): the real git binary, through the process runner and git-safety on
// every call. Paths are workspace-relative; `path` names the repository directory (default: root).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { isInside, resolveInWorkspace } from '../sandbox/path-guard.ts';
import type { RunResult } from '../sandbox/process-runner.ts';
import { checkRepoUrl } from '../sandbox/repo-url.ts';
import type { SandboxWrapper } from '../sandbox/types.ts';
import {
  assertRepoInWorkspace,
  checkRefName,
  cloneRepository,
  type GitRunOptions,
  gitOrThrow,
  localRemotePaths,
  runGit,
} from './git-exec.ts';
import { pushCredentialEnv } from './git-safety.ts';
import { type Tool, type ToolContext, ToolError, type ToolResult } from './types.ts';

export { cloneRepository } from './git-exec.ts';

const OPERATIONS = [
  'clone',
  'status',
  'diff',
  'log',
  'add',
  'commit',
  'push',
  'pull',
  'branch',
  'checkout',
] as const;

export const gitInput = z.object({
  operation: z.enum(OPERATIONS),
  repoUrl: z
    .string()
    .max(2048)
    .optional()
    .describe('clone: repository URL (https://, ssh:// or git@host:owner/repo)'),
  path: z
    .string()
    .max(4096)
    .optional()
    .describe('Repository directory (workspace-relative, default the workspace root); clone: destination'),
  message: z.string().max(20_000).optional().describe('commit: the commit message'),
  all: z.boolean().optional().describe('add/commit: stage every change (git add -A) first'),
  paths: z
    .array(z.string().max(4096))
    .max(1000)
    .optional()
    .describe('add/diff/log/checkout: workspace-relative paths'),
  branch: z
    .string()
    .max(200)
    .optional()
    .describe('clone/push/pull/checkout: branch name; branch: the branch to create'),
  create: z.boolean().optional().describe('checkout: create the branch (git checkout -b)'),
  remote: z.string().max(100).optional().describe('push/pull: remote name (default origin)'),
  ref: z.string().max(200).optional().describe('diff/log: revision or range; branch/checkout: start point'),
  staged: z.boolean().optional().describe('diff: show staged changes'),
  limit: z.number().int().min(1).max(1000).optional().describe('log: number of commits (default 20)'),
  setUpstream: z.boolean().optional().describe('push: set the upstream (default true)'),
});
export type GitInput = z.infer<typeof gitInput>;

const REMOTE = /^(?!-)[A-Za-z0-9._-]{1,100}$/;
// Revisions and ranges (HEAD~2, origin/main, a..b) but nothing option-like or with spaces.
const REV = /^(?!-)[A-Za-z0-9._/~^@{}+-]{1,200}$/;

function checkRev(rev: string): void {
  if (!REV.test(rev)) throw new ToolError('invalid_input', `Invalid revision "${rev}"`);
}

function need<T>(value: T | undefined, field: string, op: string): T {
  if (value === undefined || value === '') throw new ToolError('invalid_input', `git ${op} needs "${field}"`);
  return value;
}

/** Tool result from a finished git process: output plus a status line on failure. */
function toResult(res: RunResult, empty = '(no output)', meta?: Record<string, unknown>): ToolResult {
  let output = res.output.trim() || empty;
  const ok = res.exitCode === 0;
  if (res.timedOut) output += `\n[timed out after ${res.durationMs} ms]`;
  else if (res.aborted) output += '\n[killed]';
  else if (!ok) output += `\n[git exited with code ${res.exitCode ?? res.signal}]`;
  return meta && ok ? { output, isError: !ok, meta } : { output, isError: !ok };
}

interface RepoCtx {
  top: string;
  o: GitRunOptions;
}

export function createGitTool(deps: { config: Config; sandbox: SandboxWrapper }): Tool<GitInput> {
  const { config, sandbox } = deps;

  const baseOptions = (ctx: ToolContext, cwd: string): GitRunOptions => ({
    config,
    sandbox,
    workspace: ctx.workspace,
    cwd,
    env: ctx.env,
    signal: ctx.signal,
  });

  async function openRepo(input: GitInput, ctx: ToolContext): Promise<RepoCtx> {
    const dir = await resolveInWorkspace(ctx.workspace, input.path ?? '.');
    if (!(await fsp.stat(dir)).isDirectory())
      throw new ToolError('invalid_input', `"${input.path}" is not a directory`);
    const o = baseOptions(ctx, dir);
    const top = await assertRepoInWorkspace(dir, o);
    return { top, o: { ...o, cwd: top } };
  }

  /** Workspace-relative paths → paths relative to the repository top, each through the path guard. */
  async function pathspecs(paths: string[], repo: RepoCtx, ctx: ToolContext): Promise<string[]> {
    const out: string[] = [];
    for (const p of paths) {
      const abs = await resolveInWorkspace(ctx.workspace, p, { allowMissing: true, followFinal: false });
      if (!isInside(repo.top, abs))
        throw new ToolError('invalid_input', `"${p}" is not inside the repository`);
      out.push(path.relative(repo.top, abs) || '.');
    }
    return out;
  }

  async function currentBranch(repo: RepoCtx): Promise<string> {
    const res = await runGit(['symbolic-ref', '--quiet', '--short', 'HEAD'], repo.o);
    const name = res.output.trim();
    if (res.exitCode !== 0 || !name) {
      throw new ToolError('detached_head', 'HEAD is detached; check out a branch (or pass "branch") first');
    }
    return name;
  }

  /** Remote name → its URL, refused when the URL is not one the server may contact. */
  async function remoteUrl(repo: RepoCtx, remote: string, push: boolean): Promise<string> {
    if (!REMOTE.test(remote)) throw new ToolError('invalid_input', `Invalid remote name "${remote}"`);
    const args = push ? ['remote', 'get-url', '--push', remote] : ['remote', 'get-url', remote];
    const url = await gitOrThrow(args, repo.o, 'unknown_remote');
    const check = checkRepoUrl(url, { allowFileRepos: config.allowFileRepos });
    if (!check.ok) throw new ToolError('invalid_repo_url', `Remote "${remote}" URL refused: ${check.reason}`);
    return url;
  }

  async function clone(input: GitInput, ctx: ToolContext): Promise<ToolResult> {
    const repoUrl = need(input.repoUrl, 'repoUrl', 'clone');
    let dest: string;
    if (input.path !== undefined) {
      dest = await resolveInWorkspace(ctx.workspace, input.path, { allowMissing: true });
    } else if ((await fsp.readdir(ctx.workspace)).length === 0) {
      dest = ctx.workspace;
    } else {
      // Like git: the last URL component without `.git`.
      const name =
        repoUrl
          .replace(/\/+$/, '')
          .split(/[/:]/)
          .pop()
          ?.replace(/\.git$/, '') ?? '';
      if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.')) {
        throw new ToolError('invalid_input', 'The workspace is not empty; give "path" for the clone');
      }
      dest = await resolveInWorkspace(ctx.workspace, name, { allowMissing: true });
    }
    const res = await cloneRepository({
      config,
      sandbox,
      repoUrl,
      branch: input.branch,
      dest,
      env: ctx.env,
      signal: ctx.signal,
      workspace: ctx.workspace,
      onOutput: ctx.onOutput,
    });
    const rel = path.relative(ctx.workspace, dest) || '.';
    const head = res.sha ? `at ${res.sha.slice(0, 12)}` : '(empty repository)';
    return {
      output: `Cloned ${repoUrl} into ${rel} (branch ${res.branch || '?'}, ${head})`,
      isError: false,
      meta: { clone: { repoUrl, branch: res.branch, path: rel } },
    };
  }

  async function commit(input: GitInput, repo: RepoCtx): Promise<ToolResult> {
    const message = need(input.message, 'message', 'commit');
    if (!message.trim()) throw new ToolError('invalid_input', 'The commit message is empty');
    if (input.all) await gitOrThrow(['add', '-A'], repo.o);
    const staged = await runGit(['diff', '--cached', '--quiet', '--no-ext-diff', '--no-textconv'], repo.o);
    if (staged.exitCode === 0) {
      return {
        output: input.all
          ? 'Nothing to commit: the working tree has no changes.'
          : 'Nothing to commit: no changes are staged (use "add" first, or commit with all: true).',
        isError: true,
      };
    }
    // --no-verify on top of core.hooksPath=/dev/null; the message goes through stdin, not argv.
    const res = await runGit(['commit', '--no-verify', '--no-gpg-sign', '-F', '-'], {
      ...repo.o,
      stdin: message,
    });
    if (res.exitCode !== 0) return toResult(res);
    const sha = await gitOrThrow(['rev-parse', 'HEAD'], repo.o);
    return toResult(res, '', { commit: { sha, message } });
  }

  async function push(input: GitInput, repo: RepoCtx, ctx: ToolContext): Promise<ToolResult> {
    const remote = input.remote ?? 'origin';
    const current = await currentBranch(repo).catch((err) => {
      if (input.branch) return undefined;
      throw err;
    });
    const branch = input.branch ?? current!;
    checkRefName(branch);
    const url = await remoteUrl(repo, remote, true);
    const src = branch === current ? 'HEAD' : `refs/heads/${branch}`;
    const args = ['push', '--no-verify'];
    if ((input.setUpstream ?? true) && branch === current) args.push('--set-upstream');
    args.push(remote, `${src}:refs/heads/${branch}`);
    const res = await runGit(args, {
      ...repo.o,
      network: true,
      extraEnv: pushCredentialEnv(config, url),
      hostPaths: localRemotePaths(config, url, true),
      onOutput: ctx.onOutput,
    });
    return toResult(res, '', { push: { remote, branch } });
  }

  async function pull(input: GitInput, repo: RepoCtx, ctx: ToolContext): Promise<ToolResult> {
    const remote = input.remote ?? 'origin';
    const branch = input.branch ?? (await currentBranch(repo));
    checkRefName(branch);
    const url = await remoteUrl(repo, remote, false);
    const res = await runGit(
      ['pull', '--no-rebase', '--no-edit', '--no-recurse-submodules', remote, branch],
      {
        ...repo.o,
        network: true,
        extraEnv: pushCredentialEnv(config, url),
        hostPaths: localRemotePaths(config, url, false),
        onOutput: ctx.onOutput,
      },
    );
    return toResult(res);
  }

  async function execute(input: GitInput, ctx: ToolContext): Promise<ToolResult> {
    if (input.operation === 'clone') return clone(input, ctx);
    const repo = await openRepo(input, ctx);
    const specs = input.paths?.length ? await pathspecs(input.paths, repo, ctx) : [];
    // Pathspecs are literal: a file named ":(glob)*" is that file, not pathspec magic.
    const lit = ['--literal-pathspecs'];
    switch (input.operation) {
      case 'status':
        return toResult(await runGit(['status'], repo.o));
      case 'diff': {
        const args = [...lit, 'diff', '--no-ext-diff', '--no-textconv'];
        if (input.staged) args.push('--staged');
        if (input.ref) {
          checkRev(input.ref);
          args.push(input.ref);
        }
        return toResult(await runGit([...args, '--', ...specs], repo.o), '(no changes)');
      }
      case 'log': {
        const args = [...lit, 'log', '--no-ext-diff', '--no-textconv', '--no-show-signature'];
        args.push(`-n${input.limit ?? 20}`, '--date=short', '--format=%h %ad %an: %s');
        if (input.ref) {
          checkRev(input.ref);
          args.push(input.ref);
        }
        return toResult(await runGit([...args, '--', ...specs], repo.o), '(no commits)');
      }
      case 'add': {
        if (!input.all && specs.length === 0)
          throw new ToolError('invalid_input', 'git add needs "paths" or all: true');
        const res = await runGit(input.all ? ['add', '-A'] : [...lit, 'add', '--', ...specs], repo.o);
        if (res.exitCode !== 0) return toResult(res);
        return toResult(await runGit(['status', '--short'], repo.o), '(nothing staged)');
      }
      case 'commit':
        return commit(input, repo);
      case 'push':
        return push(input, repo, ctx);
      case 'pull':
        return pull(input, repo, ctx);
      case 'branch': {
        if (!input.branch)
          return toResult(await runGit(['branch', '--list', '-a', '-vv'], repo.o), '(no branches)');
        checkRefName(input.branch);
        const args = ['branch', input.branch];
        if (input.ref) {
          checkRev(input.ref);
          args.push(input.ref);
        }
        const res = await runGit(args, repo.o);
        return res.exitCode === 0
          ? { output: `Created branch ${input.branch}`, isError: false }
          : toResult(res);
      }
      case 'checkout': {
        if (specs.length > 0) {
          const args = [...lit, 'checkout'];
          if (input.ref) {
            checkRev(input.ref);
            args.push(input.ref);
          }
          return toResult(await runGit([...args, '--', ...specs], repo.o), 'Restored.');
        }
        const target = need(input.branch ?? (input.create ? undefined : input.ref), 'branch', 'checkout');
        const args = ['checkout'];
        if (input.create) {
          checkRefName(target);
          args.push('-b', target);
          if (input.ref) {
            checkRev(input.ref);
            args.push(input.ref);
          }
        } else {
          checkRev(target);
          args.push(target);
        }
        return toResult(await runGit([...args, '--'], repo.o));
      }
    }
  }

  return {
    name: 'git',
    description:
      'Run git in the workspace. Operations: clone (repoUrl, path?, branch?), status, diff (staged?, ref?, paths?), ' +
      'log (limit?, ref?, paths?), add (paths or all), commit (message, all?), push (remote?, branch?; default: ' +
      'current branch to origin), pull (remote?, branch?), branch (list, or create "branch" at ref?), checkout ' +
      '(branch, create?, ref?; or paths to restore files). "path" selects the repository directory.',
    input: gitInput,
    execute,
  };
}
