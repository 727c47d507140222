// Which local repositories (ALLOW_FILE_REPOS: `file://…` URLs and paths) a run may clone, fetch,
// pull or push. A local remote is a host path the sandbox has to bind for git, so it is judged by
// where it really is (symlinks resolved):
//   - inside the run's own workspace: allowed (the sandbox sees it anyway; nothing is bound);
//   - never a protected place (the server's checkout and its .git, DATA_DIR, other sessions,
//     /root, /home, the server's cwd and home, system directories), even under a configured root;
//   - otherwise only the session's own origin (its `repoUrl`) or a path under FILE_REPO_ROOTS.
// Network URLs (https, ssh) are not this module's business: repo-url.ts judges those.
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config.ts';
import { createHostPathPolicy, isInside, realOrResolve } from '../bwrap/paths.ts';
import { checkRepoUrl } from './url.ts';

export type LocalRepoCheck =
  | { ok: true; local: false }
  | { ok: true; local: true; path: string; inWorkspace: boolean }
  | { ok: false; reason: string };

export interface LocalRepoContext {
  /** The run's workspace root (real path). */
  workspace: string;
  /** The directory git resolves a relative path against (its working directory). */
  cwd: string;
  /** The session's `repoUrl`: the one local repository allowed outside FILE_REPO_ROOTS. */
  origin?: string;
}

export type LocalRepoConfig = Pick<Config, 'allowFileRepos' | 'fileRepoRoots' | 'dataDir'> &
  Partial<Pick<Config, 'githubGitUrl'>>;

/**
 * The absolute path a local repository URL names (relative paths against `cwd`), `null` for a
 * network URL, or a reason it is refused. Refuses the spellings where git and this check could
 * disagree on the path: a `file://` URL with a query/fragment or a host other than localhost
 * (git keeps `?`/`#` literally, Node drops them), and `~user` paths (git's upload-pack expands them).
 */
export function localRepoPath(url: string, cwd: string): { path: string } | { reason: string } | null {
  if (/^file:/i.test(url)) {
    if (/[?#]/.test(url)) return { reason: 'a file:// URL must not contain "?" or "#"' };
    try {
      const u = new URL(url);
      if (u.host !== '' && u.host !== 'localhost') return { reason: 'a file:// URL must not name a host' };
      return { path: fileURLToPath(u) };
    } catch {
      return { reason: 'malformed file:// URL' };
    }
  }
  if (url.startsWith('~')) return { reason: 'local repository paths must not start with "~"' };
  return { path: path.resolve(cwd, url) };
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export interface LocalRepoPolicy {
  /** Judges one repository URL; `local: false` means a network URL (already checked by repo-url). */
  check(url: string, ctx: LocalRepoContext): LocalRepoCheck;
}

export function createLocalRepoPolicy(config: LocalRepoConfig): LocalRepoPolicy {
  const hostPaths = createHostPathPolicy(config.dataDir);

  const originPath = (ctx: LocalRepoContext): string | null => {
    if (!ctx.origin) return null;
    const c = checkRepoUrl(ctx.origin, { allowFileRepos: config.allowFileRepos });
    if (!c.ok || c.kind !== 'file') return null;
    // The session clone resolves a relative repoUrl against the workspace root.
    const p = localRepoPath(ctx.origin, ctx.workspace);
    return p && 'path' in p ? realOrResolve(p.path) : null;
  };

  const check = (url: string, ctx: LocalRepoContext): LocalRepoCheck => {
    const c = checkRepoUrl(url, {
      allowFileRepos: config.allowFileRepos,
      ...(config.githubGitUrl ? { githubGitUrl: config.githubGitUrl } : {}),
    });
    if (!c.ok) return { ok: false, reason: c.reason };
    if (c.kind !== 'file') return { ok: true, local: false };
    const lexical = localRepoPath(url, ctx.cwd);
    if (!lexical) return { ok: true, local: false };
    if ('reason' in lexical) return { ok: false, reason: lexical.reason };
    let real: string;
    try {
      real = realpathSync(lexical.path);
    } catch {
      return { ok: false, reason: `local repository ${url} does not exist` };
    }
    const ws = realOrResolve(ctx.workspace);
    if (isInside(ws, real)) return { ok: true, local: true, path: real, inWorkspace: true };
    const why = hostPaths.unsafeRepository(real, ws);
    if (why) return { ok: false, reason: `local repository ${url} (${real}) ${why}` };
    // Only a directory: a file (a `gitdir: …` file) would lead git to a repository nobody checked.
    if (!isDirectory(real)) return { ok: false, reason: `local repository ${url} is not a directory` };
    const origin = originPath(ctx);
    if (origin !== null && (real === origin || real === path.join(origin, '.git'))) {
      return { ok: true, local: true, path: real, inWorkspace: false };
    }
    for (const root of config.fileRepoRoots) {
      if (isInside(realOrResolve(root), real))
        return { ok: true, local: true, path: real, inWorkspace: false };
    }
    return {
      ok: false,
      reason:
        `local repository ${url} is neither the session's repository nor under FILE_REPO_ROOTS` +
        (config.fileRepoRoots.length ? ` (${config.fileRepoRoots.join(', ')})` : ' (none configured)'),
    };
  };

  return { check };
}
