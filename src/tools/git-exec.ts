// Running git for the server. Two entry points and no other:
//   - `openRepository(dir)`: pins an EXISTING repository inside the workspace and checks its config
//     (git-safety.ts) before handing out the only way to run git there (`repo.run`);
//   - `cloneRepository()`: makes a NEW repository, where there is no config to check yet.
// Every git process goes through the process runner (the sandbox) with the git-safety flags and env.
// The runner itself is not exported, so no caller can run git in an agent's repository unchecked.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { type RunResult, runProcess } from '../sandbox/process-runner.ts';
import { createLocalRepoPolicy } from '../sandbox/repo/local.ts';
import type { SandboxWrapper } from '../sandbox/types.ts';
import { isInside } from '../sandbox/workspace/path-guard.ts';
import type { GitCredentialBroker, GitCredentialGrant } from './git-credentials.ts';
import { assertSafeRepoConfig, gitArgs, gitEnv } from './git-safety.ts';
import { ToolError } from './types.ts';

export type GitDeps = Pick<
  Config,
  | 'allowFileRepos'
  | 'fileRepoRoots'
  | 'dataDir'
  | 'gitAuthorName'
  | 'gitAuthorEmail'
  | 'bashTimeoutMs'
  | 'toolOutputLimit'
> &
  Partial<Pick<Config, 'githubGitUrl'>>;

/** Who runs git, confined where, with which env. */
export interface GitContext {
  config: GitDeps;
  sandbox: SandboxWrapper;
  /** The workspace root: the git process's confinement (resolved to its real path here). */
  workspace: string;
  env: Record<string, string>;
  signal?: AbortSignal;
  /** The session's `repoUrl`: besides FILE_REPO_ROOTS, the only local repository a run may use. */
  origin?: string;
  /** Default timeout of each git process (BASH_TIMEOUT_MS otherwise). */
  timeoutMs?: number;
  /** GitHub credentials for network remotes (through the credential proxy); none without it. */
  credentials?: GitCredentialBroker;
}

export interface GitCommandOptions {
  /** Network access (clone/fetch/push to a network remote); also the only case for credentials. */
  network?: boolean;
  /** Extra env for this one process (a credential grant's config). */
  extraEnv?: Record<string, string>;
  /** The remote goes through the credential proxy (plain http on loopback is then allowed). */
  proxied?: boolean;
  /** Host paths the sandboxed process needs (a local remote repository for fetch/pull/push). */
  hostPaths?: Array<{ path: string; writable?: boolean }>;
  onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
  stdin?: string;
  timeoutMs?: number;
}

/** Where the sandbox sees the server's git config for local remotes (safe.directory only). */
const GITCONFIG_IN_SANDBOX = '/run/duyetbot/gitconfig';

function spawnGit(
  args: string[],
  ctx: GitContext,
  workspace: string,
  cwd: string,
  o: GitCommandOptions = {},
): Promise<RunResult> {
  // A local repository is usually owned by another uid than the sandbox's (a root server runs each
  // session as its own uid): git refuses it as "dubious ownership" unless it is a safe.directory,
  // which only protected config may say. `-c` does not reach the upload-pack/receive-pack git runs
  // for a local transport, so a global config file made by the server carries it (bound read-only).
  const local = o.hostPaths?.length && ctx.sandbox.kind !== 'none' ? o.hostPaths : [];
  const safeDirs = local.flatMap((h) => [h.path, path.join(h.path, '.git')]);
  const gitconfig = safeDirs.length
    ? `[safe]\n${safeDirs.map((d) => `\tdirectory = ${d.replace(/["\\\n]/g, '')}\n`).join('')}`
    : undefined;
  return runProcess(
    {
      command: 'git',
      args: gitArgs(ctx.config, args, { network: o.network ?? false, proxied: o.proxied ?? false }),
      cwd,
      workspace,
      env: {
        ...gitEnv(ctx.config, ctx.env),
        GIT_CEILING_DIRECTORIES: path.dirname(workspace),
        ...(gitconfig ? { GIT_CONFIG_GLOBAL: GITCONFIG_IN_SANDBOX } : {}),
        ...o.extraEnv,
      },
      network: o.network ?? false,
      ...(o.hostPaths?.length ? { hostPaths: o.hostPaths } : {}),
      ...(gitconfig ? { files: [{ dest: GITCONFIG_IN_SANDBOX, content: gitconfig }] } : {}),
    },
    {
      sandbox: ctx.sandbox,
      timeoutMs: o.timeoutMs ?? ctx.timeoutMs ?? ctx.config.bashTimeoutMs,
      signal: ctx.signal,
      onOutput: o.onOutput,
      outputLimit: ctx.config.toolOutputLimit,
      stdin: o.stdin,
    },
  );
}

function failure(res: RunResult): string {
  return res.timedOut
    ? 'timed out'
    : res.aborted
      ? 'was cancelled'
      : `exited with ${res.exitCode ?? res.signal}`;
}

/** What a fetch or push through a remote needs: its checked URLs and the process options for them. */
export interface RemoteTarget {
  urls: string[];
  options: Pick<GitCommandOptions, 'network' | 'hostPaths'>;
}

/** A repository that passed the workspace and config checks; `run` is the only way to run git in it. */
export interface GitRepository {
  /** Real path of the work tree's top level (inside the workspace). */
  readonly top: string;
  /** Real path of the workspace root. */
  readonly workspace: string;
  run(args: string[], o?: GitCommandOptions): Promise<RunResult>;
  /** Runs git and returns trimmed output, throwing ToolError(code) on a non-zero exit. */
  runOrThrow(args: string[], o?: GitCommandOptions, code?: string): Promise<string>;
  /**
   * Every URL git would use for `remote` (all push URLs — each `pushurl`, or each `url` when there is
   * none — or the fetch URLs, after insteadOf/pushInsteadOf), each checked against the URL policy
   * and the local-repository policy; refused with ToolError('invalid_repo_url').
   */
  remote(name: string, direction: 'fetch' | 'push'): Promise<RemoteTarget>;
  /**
   * Runs `args` (a fetch or push through `remote`) with what the remote needs: its checked URLs,
   * network or the local repository's bind, and for a GitHub remote a credential grant that lives
   * exactly as long as this git process (`refs`: what a push may update).
   */
  runRemote(
    remote: string,
    direction: 'fetch' | 'push',
    args: string[],
    o?: { refs?: string[]; onOutput?: GitCommandOptions['onOutput'] },
  ): Promise<RunResult>;
}

async function realOrSelf(p: string): Promise<string> {
  try {
    return await fsp.realpath(p);
  } catch {
    return p;
  }
}

const REMOTE = /^(?!-)[A-Za-z0-9._-]{1,100}$/;

/** Runs one git process under `grant` (if any): its env in, its URL out of the output, revoked after. */
async function runGranted(
  grant: GitCredentialGrant | undefined,
  start: (extra: GitCommandOptions) => Promise<RunResult>,
): Promise<RunResult> {
  if (!grant) return start({});
  try {
    const res = await start({ extraEnv: grant.env, proxied: true });
    return { ...res, output: grant.redact(res.output) };
  } finally {
    grant.close();
  }
}

/**
 * Opens the repository containing `dir`: its work tree AND git dirs must be inside the workspace (a
 * `.git` file or symlink could point at a repository elsewhere on the host), and its config must not
 * name commands (assertSafeRepoConfig). The check and the later commands are separate processes, so
 * the `-c` overrides of git-safety.ts stay the first line of defence against a config changed in
 * between (notes/git-edges.md).
 */
export async function openRepository(dir: string, ctx: GitContext): Promise<GitRepository> {
  const workspace = await fsp.realpath(ctx.workspace);
  const res = await spawnGit(
    ['rev-parse', '--show-toplevel', '--absolute-git-dir', '--git-common-dir'],
    ctx,
    workspace,
    dir,
  );
  if (res.exitCode !== 0) {
    throw new ToolError(
      'not_a_repository',
      `Not a git repository (inside the workspace): ${res.output.trim()}`,
    );
  }
  const [topRaw = '', gitDir = '', common = ''] = res.output.trim().split('\n');
  for (const d of [topRaw, gitDir, path.resolve(dir, common)]) {
    if (!d || !isInside(workspace, await realOrSelf(d))) {
      throw new ToolError(
        'path_outside_workspace',
        `The repository's directories resolve outside the workspace (${d})`,
      );
    }
  }
  const top = await realOrSelf(topRaw);
  await assertSafeRepoConfig(top, {
    config: ctx.config,
    sandbox: ctx.sandbox,
    workspace,
    env: ctx.env,
    signal: ctx.signal,
  });
  const localRepos = createLocalRepoPolicy(ctx.config);

  const run = (args: string[], o?: GitCommandOptions) => spawnGit(args, ctx, workspace, top, o);
  const runOrThrow = async (args: string[], o?: GitCommandOptions, code = 'git_failed') => {
    const r = await run(args, o);
    if (r.exitCode !== 0) throw new ToolError(code, `git ${args[0]} ${failure(r)}: ${r.output.trim()}`);
    return r.output.trim();
  };

  const remote = async (name: string, direction: 'fetch' | 'push'): Promise<RemoteTarget> => {
    if (!REMOTE.test(name)) throw new ToolError('invalid_input', `Invalid remote name "${name}"`);
    const args = ['remote', 'get-url', '--all', ...(direction === 'push' ? ['--push'] : []), name];
    const urls = (await runOrThrow(args, {}, 'unknown_remote')).split('\n').filter((u) => u !== '');
    if (urls.length === 0) throw new ToolError('unknown_remote', `Remote "${name}" has no URL`);
    const hostPaths: Array<{ path: string; writable: boolean }> = [];
    let network = 0;
    for (const url of urls) {
      const c = localRepos.check(url, { workspace, cwd: top, origin: ctx.origin });
      if (!c.ok) throw new ToolError('invalid_repo_url', `Remote "${name}" URL refused: ${c.reason}`);
      if (!c.local) network++;
      else if (!c.inWorkspace) hostPaths.push({ path: c.path, writable: direction === 'push' });
    }
    // Local transports run the other repository's hooks inside this process's sandbox: never with
    // network. A remote that mixes local and network URLs would need both.
    if (network > 0 && network < urls.length) {
      throw new ToolError(
        'invalid_repo_url',
        `Remote "${name}" mixes local and network URLs; use separate remotes`,
      );
    }
    return { urls, options: network > 0 ? { network: true } : { network: false, hostPaths } };
  };

  const runRemote: GitRepository['runRemote'] = async (name, direction, args, o = {}) => {
    const target = await remote(name, direction);
    const grant = target.options.network
      ? await ctx.credentials?.open(target.urls, direction, {
          ...(o.refs ? { refs: o.refs } : {}),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        })
      : undefined;
    return runGranted(grant, (extra) => run(args, { ...target.options, ...extra, onOutput: o.onOutput }));
  };

  return { top, workspace, run, runOrThrow, remote, runRemote };
}

export interface CloneOptions extends GitContext {
  repoUrl: string;
  branch?: string;
  /**
   * Workspace-relative destination (`.` = the workspace root). Git creates it inside the sandbox
   * and refuses one that exists and is not empty; the server never creates or reads it itself.
   */
  dest: string;
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

/** Clones `repoUrl` into `dest` (inside the workspace) with the same URL and config rules as the git tool. */
export async function cloneRepository(opts: CloneOptions): Promise<CloneResult> {
  if (opts.branch !== undefined) checkRefName(opts.branch);
  const workspace = await fsp.realpath(opts.workspace);
  // Lexical only: the caller has run the path guard on the requested path; whatever the agent swaps
  // in later is met by git inside the sandbox, where only the workspace exists.
  const dest = path.normalize(opts.dest);
  if (path.isAbsolute(dest) || dest === '..' || dest.startsWith(`..${path.sep}`)) {
    throw new ToolError(
      'path_outside_workspace',
      `Clone destination "${opts.dest}" is outside the workspace`,
    );
  }
  const source = createLocalRepoPolicy(opts.config).check(opts.repoUrl, {
    workspace,
    cwd: workspace,
    origin: opts.origin,
  });
  if (!source.ok) throw new ToolError('invalid_repo_url', `Repository URL refused: ${source.reason}`);
  // --no-local: a local-path clone would otherwise hard-link the source's objects into the workspace.
  // --no-checkout: the files are checked out below by a process without network or credentials,
  // after the config check (a filter driver raced into the new .git/config gets nothing).
  const args = ['clone', '--no-local', '--no-recurse-submodules', '--no-checkout'];
  if (opts.branch) args.push('--branch', opts.branch);
  args.push('--', opts.repoUrl, dest);
  const grant = source.local
    ? undefined
    : await opts.credentials?.open([opts.repoUrl], 'fetch', opts.signal ? { signal: opts.signal } : {});
  const res = await runGranted(grant, (extra) =>
    spawnGit(
      args,
      opts,
      workspace,
      workspace,
      source.local
        ? {
            network: false,
            hostPaths: source.inWorkspace ? [] : [{ path: source.path }],
            onOutput: opts.onOutput,
          }
        : { network: true, ...extra, onOutput: opts.onOutput },
    ),
  );
  if (res.exitCode !== 0) {
    if (/already exists and is not an empty directory/.test(res.output)) {
      throw new ToolError('destination_not_empty', `Clone destination "${opts.dest}" is not empty`);
    }
    throw new ToolError('clone_failed', `git clone ${failure(res)}: ${res.output.trim()}`);
  }
  const repo = await openRepository(path.join(workspace, dest), opts);
  const branch = (await repo.run(['symbolic-ref', '--quiet', '--short', 'HEAD'])).output.trim();
  const sha = (await repo.run(['rev-parse', '--verify', '--quiet', 'HEAD'])).output.trim();
  if (sha) {
    // After `clone --no-checkout` the index is empty: a plain checkout fills the work tree.
    const co = await repo.run(['checkout', '-q'], { onOutput: opts.onOutput });
    if (co.exitCode !== 0)
      throw new ToolError('clone_failed', `git checkout ${failure(co)}: ${co.output.trim()}`);
  }
  return { repoUrl: opts.repoUrl, branch, sha, output: res.output.trim() };
}
