// The `git` tool (docs/api.md §9): the real git binary, through the process runner and git-safety on
// every call. Paths are workspace-relative; `path` names the repository directory (default: root).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../config.ts';
import type { RunResult } from '../sandbox/process-runner.ts';
import type { SandboxWrapper } from '../sandbox/types.ts';
import { isInside, resolveInWorkspace } from '../sandbox/workspace/path-guard.ts';
import type { GitCredentialBroker } from './git-credentials.ts';
import {
  checkRefName,
  cloneRepository,
  type GitContext,
  type GitRepository,
  openRepository,
} from './git-exec.ts';
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

export function createGitTool(deps: {
  config: Config;
  sandbox: SandboxWrapper;
  /** GitHub credentials for GitHub remotes (through the credential proxy); none without it. */
  gitCredentials?: GitCredentialBroker;
}): Tool<GitInput> {
  const { config, sandbox } = deps;

  const gitContext = (ctx: ToolContext): GitContext => ({
    config,
    sandbox,
    workspace: ctx.workspace,
    env: ctx.env,
    signal: ctx.signal,
    ...(ctx.origin ? { origin: ctx.origin } : {}),
    ...(deps.gitCredentials ? { credentials: deps.gitCredentials } : {}),
  });

  async function openRepo(input: GitInput, ctx: ToolContext): Promise<GitRepository> {
    const dir = await resolveInWorkspace(ctx.workspace, input.path ?? '.');
    if (!(await fsp.stat(dir)).isDirectory())
      throw new ToolError('invalid_input', `"${input.path}" is not a directory`);
    return openRepository(dir, gitContext(ctx));
  }

  /** Workspace-relative paths → paths relative to the repository top, each through the path guard. */
  async function pathspecs(paths: string[], repo: GitRepository, ctx: ToolContext): Promise<string[]> {
    const out: string[] = [];
    for (const p of paths) {
      const abs = await resolveInWorkspace(ctx.workspace, p, { allowMissing: true, followFinal: false });
      if (!isInside(repo.top, abs))
        throw new ToolError('invalid_input', `"${p}" is not inside the repository`);
      out.push(path.relative(repo.top, abs) || '.');
    }
    return out;
  }

  async function currentBranch(repo: GitRepository): Promise<string> {
    const res = await repo.run(['symbolic-ref', '--quiet', '--short', 'HEAD']);
    const name = res.output.trim();
    if (res.exitCode !== 0 || !name) {
      throw new ToolError('detached_head', 'HEAD is detached; check out a branch (or pass "branch") first');
    }
    return name;
  }

  async function clone(input: GitInput, ctx: ToolContext): Promise<ToolResult> {
    const repoUrl = need(input.repoUrl, 'repoUrl', 'clone');
    // The path guard is the first refusal (a symlink out of the workspace, `..`); the server never
    // creates or lists the destination itself: git does, inside the sandbox.
    let rel: string;
    if (input.path !== undefined) {
      const dest = await resolveInWorkspace(ctx.workspace, input.path, { allowMissing: true });
      rel = path.relative(ctx.workspace, dest) || '.';
    } else if ((await fsp.readdir(ctx.workspace)).length === 0) {
      rel = '.';
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
      const dest = await resolveInWorkspace(ctx.workspace, name, { allowMissing: true });
      rel = path.relative(ctx.workspace, dest) || '.';
    }
    const res = await cloneRepository({
      ...gitContext(ctx),
      repoUrl,
      branch: input.branch,
      dest: rel,
      onOutput: ctx.onOutput,
    });
    const head = res.sha ? `at ${res.sha.slice(0, 12)}` : '(empty repository)';
    return {
      output: `Cloned ${repoUrl} into ${rel} (branch ${res.branch || '?'}, ${head})`,
      isError: false,
      meta: { clone: { repoUrl, branch: res.branch, path: rel } },
    };
  }

  async function commit(input: GitInput, repo: GitRepository): Promise<ToolResult> {
    const message = need(input.message, 'message', 'commit');
    if (!message.trim()) throw new ToolError('invalid_input', 'The commit message is empty');
    if (input.all) await repo.runOrThrow(['add', '-A']);
    const staged = await repo.run(['diff', '--cached', '--quiet', '--no-ext-diff', '--no-textconv']);
    if (staged.exitCode === 0) {
      return {
        output: input.all
          ? 'Nothing to commit: the working tree has no changes.'
          : 'Nothing to commit: no changes are staged (use "add" first, or commit with all: true).',
        isError: true,
      };
    }
    // --no-verify on top of core.hooksPath=/dev/null; the message goes through stdin, not argv.
    const res = await repo.run(['commit', '--no-verify', '--no-gpg-sign', '-F', '-'], { stdin: message });
    if (res.exitCode !== 0) return toResult(res);
    const sha = await repo.runOrThrow(['rev-parse', 'HEAD']);
    return toResult(res, '', { commit: { sha, message } });
  }

  async function push(input: GitInput, repo: GitRepository, ctx: ToolContext): Promise<ToolResult> {
    const remote = input.remote ?? 'origin';
    const current = await currentBranch(repo).catch((err) => {
      if (input.branch) return undefined;
      throw err;
    });
    const branch = input.branch ?? current!;
    checkRefName(branch);
    const src = branch === current ? 'HEAD' : `refs/heads/${branch}`;
    const args = ['push', '--no-verify', '--no-recurse-submodules'];
    if ((input.setUpstream ?? true) && branch === current) args.push('--set-upstream');
    args.push(remote, `${src}:refs/heads/${branch}`);
    // Every URL the push would go to (each pushurl, after pushInsteadOf) is checked; a GitHub remote
    // gets a credential grant that may update this one branch only.
    const res = await repo.runRemote(remote, 'push', args, {
      refs: [`refs/heads/${branch}`],
      onOutput: ctx.onOutput,
    });
    const sha =
      res.exitCode === 0 ? (await repo.run(['rev-parse', '--verify', '--quiet', src])).output.trim() : '';
    return toResult(res, '', { push: { remote, branch, ...(sha ? { sha } : {}) } });
  }

  async function pull(input: GitInput, repo: GitRepository, ctx: ToolContext): Promise<ToolResult> {
    const remote = input.remote ?? 'origin';
    const branch = input.branch ?? (await currentBranch(repo));
    checkRefName(branch);
    // `git pull` in two processes: the fetch has the network (and maybe a credential grant) and
    // touches no work tree; the merge, which may run checkout filters, has neither.
    const fetched = await repo.runRemote(
      remote,
      'fetch',
      ['fetch', '--no-recurse-submodules', remote, branch],
      {
        onOutput: ctx.onOutput,
      },
    );
    if (fetched.exitCode !== 0) return toResult(fetched);
    const merged = await repo.run(['merge', '--no-edit', '--no-verify', 'FETCH_HEAD'], {
      onOutput: ctx.onOutput,
    });
    return toResult({ ...merged, output: `${fetched.output}${merged.output}` });
  }

  async function execute(input: GitInput, ctx: ToolContext): Promise<ToolResult> {
    if (input.operation === 'clone') return clone(input, ctx);
    const repo = await openRepo(input, ctx);
    const specs = input.paths?.length ? await pathspecs(input.paths, repo, ctx) : [];
    // Pathspecs are literal: a file named ":(glob)*" is that file, not pathspec magic.
    const lit = ['--literal-pathspecs'];
    switch (input.operation) {
      case 'status':
        return toResult(await repo.run(['status']));
      case 'diff': {
        const args = [...lit, 'diff', '--no-ext-diff', '--no-textconv'];
        if (input.staged) args.push('--staged');
        if (input.ref) {
          checkRev(input.ref);
          args.push(input.ref);
        }
        return toResult(await repo.run([...args, '--', ...specs]), '(no changes)');
      }
      case 'log': {
        const args = [...lit, 'log', '--no-ext-diff', '--no-textconv', '--no-show-signature'];
        args.push(`-n${input.limit ?? 20}`, '--date=short', '--format=%h %ad %an: %s');
        if (input.ref) {
          checkRev(input.ref);
          args.push(input.ref);
        }
        return toResult(await repo.run([...args, '--', ...specs]), '(no commits)');
      }
      case 'add': {
        if (!input.all && specs.length === 0)
          throw new ToolError('invalid_input', 'git add needs "paths" or all: true');
        const res = await repo.run(input.all ? ['add', '-A'] : [...lit, 'add', '--', ...specs]);
        if (res.exitCode !== 0) return toResult(res);
        return toResult(await repo.run(['status', '--short']), '(nothing staged)');
      }
      case 'commit':
        return commit(input, repo);
      case 'push':
        return push(input, repo, ctx);
      case 'pull':
        return pull(input, repo, ctx);
      case 'branch': {
        if (!input.branch)
          return toResult(await repo.run(['branch', '--list', '-a', '-vv']), '(no branches)');
        checkRefName(input.branch);
        const args = ['branch', input.branch];
        if (input.ref) {
          checkRev(input.ref);
          args.push(input.ref);
        }
        const res = await repo.run(args);
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
          return toResult(await repo.run([...args, '--', ...specs]), 'Restored.');
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
        return toResult(await repo.run([...args, '--']));
      }
    }
  }

  return {
    name: 'git',
    description:
      'Run git in the workspace. Operations: clone (repoUrl, path?, branch?), status, diff (staged?, ref?, paths?), ' +
      'log (limit?, ref?, paths?), add (paths or all), commit (message, all?), push (remote?, branch?; default: ' +
      'current branch to origin), pull (remote?, branch?), branch (list, or create "branch" at ref?), checkout ' +
      '(branch, create?, ref?; or paths to restore files). "path" selects the repository directory. ' +
      'This tool is the only way to reach a remote: shell commands have no network. Pushes, pulls and clones of ' +
      "GitHub repositories carry the server's GitHub credentials (you never need a token).",
    input: gitInput,
    execute,
  };
}
