// Running git for the server: always through the process runner with the git-safety flags and
// env, plus the checks that pin a repository inside its workspace. Also the session clone.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.ts';
import { isInside } from '../sandbox/path-guard.ts';
import { type RunResult, runProcess } from '../sandbox/process-runner.ts';
import { checkRepoUrl } from '../sandbox/repo-url.ts';
import type { SandboxWrapper } from '../sandbox/types.ts';
import { assertSafeRepoConfig, gitArgs, gitEnv, pushCredentialEnv } from './git-safety.ts';
import { ToolError } from './types.ts';

export type GitDeps = Pick<
  Config,
  'allowFileRepos' | 'gitAuthorName' | 'gitAuthorEmail' | 'githubToken' | 'bashTimeoutMs' | 'toolOutputLimit'
>;

export interface GitRunOptions {
  config: GitDeps;
  sandbox: SandboxWrapper;
  workspace: string;
  cwd: string;
  env: Record<string, string>;
  signal?: AbortSignal;
  /** Network access (clone/fetch/push); also the only case where credentials may be added. */
  network?: boolean;
  /** Extra env for this one process (push credentials). */
  extraEnv?: Record<string, string>;
  /** Host paths the sandboxed process needs (a local remote repository for fetch/pull/push). */
  hostPaths?: Array<{ path: string; writable?: boolean }>;
  onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
  stdin?: string;
  timeoutMs?: number;
}

export function runGit(args: string[], o: GitRunOptions): Promise<RunResult> {
  return runProcess(
    {
      command: 'git',
      args: gitArgs(o.config, args),
      cwd: o.cwd,
      workspace: o.workspace,
      env: { ...gitEnv(o.config, o.env), GIT_CEILING_DIRECTORIES: path.dirname(o.workspace), ...o.extraEnv },
      network: o.network ?? false,
      ...(o.hostPaths ? { hostPaths: o.hostPaths } : {}),
    },
    {
      sandbox: o.sandbox,
      timeoutMs: o.timeoutMs ?? o.config.bashTimeoutMs,
      signal: o.signal,
      onOutput: o.onOutput,
      outputLimit: o.config.toolOutputLimit,
      stdin: o.stdin,
    },
  );
}

/** Runs git and returns trimmed stdout+stderr, throwing ToolError(code) on a non-zero exit. */
export async function gitOrThrow(args: string[], o: GitRunOptions, code = 'git_failed'): Promise<string> {
  const res = await runGit(args, o);
  if (res.exitCode !== 0) {
    const why = res.timedOut
      ? 'timed out'
      : res.aborted
        ? 'was cancelled'
        : `exited with ${res.exitCode ?? res.signal}`;
    throw new ToolError(code, `git ${args[0]} ${why}: ${res.output.trim()}`);
  }
  return res.output.trim();
}

async function realOrSelf(p: string): Promise<string> {
  try {
    return await fsp.realpath(p);
  } catch {
    return p;
  }
}

/**
 * Confirms `repoDir` is inside a git repository whose work tree AND git dirs are inside the
 * workspace (a `.git` file or symlink could point at a repository elsewhere on the host), then
 * that its config is safe. Returns the work tree's top level.
 */
export async function assertRepoInWorkspace(repoDir: string, o: GitRunOptions): Promise<string> {
  const base = { ...o, cwd: repoDir, network: false, onOutput: undefined, extraEnv: undefined };
  const res = await runGit(['rev-parse', '--show-toplevel', '--absolute-git-dir', '--git-common-dir'], base);
  if (res.exitCode !== 0) {
    throw new ToolError(
      'not_a_repository',
      `Not a git repository (inside the workspace): ${res.output.trim()}`,
    );
  }
  const [top = '', gitDir = '', common = ''] = res.output.trim().split('\n');
  const dirs = [top, gitDir, path.resolve(repoDir, common)];
  for (const d of dirs) {
    if (!d || !isInside(o.workspace, await realOrSelf(d))) {
      throw new ToolError(
        'path_outside_workspace',
        `The repository's directories resolve outside the workspace (${d})`,
      );
    }
  }
  await assertSafeRepoConfig(repoDir, {
    config: o.config,
    sandbox: o.sandbox,
    workspace: o.workspace,
    env: o.env,
    signal: o.signal,
  });
  return realOrSelf(top);
}

/**
 * The directory of a local remote (`file://…` or an absolute path; only with ALLOW_FILE_REPOS), which
 * the sandbox must bind for fetch/pull (read) or push (write). Network remotes need nothing.
 */
export function localRemotePaths(
  config: Pick<Config, 'allowFileRepos'>,
  url: string,
  writable: boolean,
): Array<{ path: string; writable: boolean }> | undefined {
  if (!config.allowFileRepos) return undefined;
  let p: string | undefined;
  if (url.startsWith('file://')) {
    try {
      p = fileURLToPath(url);
    } catch {
      return undefined;
    }
  } else if (path.isAbsolute(url)) p = url;
  return p ? [{ path: p, writable }] : undefined;
}

export interface CloneOptions {
  config: GitDeps;
  sandbox: SandboxWrapper;
  repoUrl: string;
  branch?: string;
  /** Absolute destination; created if missing, must be empty. */
  dest: string;
  env: Record<string, string>;
  signal?: AbortSignal;
  /** Confinement root for the git process; defaults to `dest`. */
  workspace?: string;
  onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
}

export interface CloneResult {
  repoUrl: string;
  branch: string;
  sha: string;
  output: string;
}

const BRANCH = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._/+-]{1,200}(?<![./])$/;

/** Branch and ref names the tools pass to git: no option look-alikes, no whitespace or revision syntax. */
export function checkRefName(name: string, what = 'branch'): void {
  if (!BRANCH.test(name) || name.endsWith('.lock')) {
    throw new ToolError('invalid_input', `Invalid ${what} name "${name}"`);
  }
}

/** Clones `repoUrl` into `dest` with the same URL and config rules as the git tool. */
export async function cloneRepository(opts: CloneOptions): Promise<CloneResult> {
  const check = checkRepoUrl(opts.repoUrl, { allowFileRepos: opts.config.allowFileRepos });
  if (!check.ok) throw new ToolError('invalid_repo_url', `Repository URL refused: ${check.reason}`);
  if (opts.branch !== undefined) checkRefName(opts.branch);
  await fsp.mkdir(opts.dest, { recursive: true, mode: 0o700 });
  const dest = await fsp.realpath(opts.dest);
  if ((await fsp.readdir(dest)).length > 0) {
    throw new ToolError('destination_not_empty', `Clone destination "${opts.dest}" is not empty`);
  }
  const workspace = opts.workspace ? await fsp.realpath(opts.workspace) : dest;
  const o: GitRunOptions = {
    config: opts.config,
    sandbox: opts.sandbox,
    workspace,
    cwd: dest,
    env: opts.env,
    signal: opts.signal,
    onOutput: opts.onOutput,
  };
  // --no-local: a local-path clone would otherwise hard-link the source's objects into the workspace.
  const args = ['clone', '--no-local', '--no-recurse-submodules'];
  if (opts.branch) args.push('--branch', opts.branch);
  args.push('--', opts.repoUrl, '.');
  const res = await runGit(args, {
    ...o,
    network: true,
    extraEnv: pushCredentialEnv(opts.config, opts.repoUrl),
  });
  if (res.exitCode !== 0) {
    const why = res.timedOut ? 'timed out' : res.aborted ? 'was cancelled' : `failed (exit ${res.exitCode})`;
    throw new ToolError('clone_failed', `git clone ${why}: ${res.output.trim()}`);
  }
  await assertRepoInWorkspace(dest, o);
  const quiet = { ...o, onOutput: undefined };
  const branch = (await runGit(['symbolic-ref', '--quiet', '--short', 'HEAD'], quiet)).output.trim();
  const sha = (await runGit(['rev-parse', '--verify', '--quiet', 'HEAD'], quiet)).output.trim();
  return { repoUrl: opts.repoUrl, branch, sha, output: res.output.trim() };
}
