// GitHub credentials for git processes, without the token in them: for a remote that is a GitHub
// repository (on GITHUB_GIT_URL's host), a one-shot grant on the git credential proxy
// (src/security/git-credential-proxy.ts) and the command-scope config that sends that one git
// process there (`url.<grant>.insteadOf=<remote URL>`). Any other remote gets nothing: the token only
// ever goes to the repository the server itself names.
import type { GitCredentialProxy, GitGrant } from '../security/git-credential-proxy.ts';
import type { GitHubCredentials } from '../security/github-credentials.ts';
import { GitHubAuthError } from '../security/github-credentials.ts';
import { parseGitHubRemote, REPO } from './gh-api.ts';
import { ToolError } from './types.ts';

export interface GitCredentialGrant {
  /** Env for the git process (GIT_CONFIG_COUNT/KEY/VALUE): the remote's URL → the grant's. */
  env: Record<string, string>;
  /** Puts the repository's URL back where git printed the grant's. */
  redact(text: string): string;
  /** Revokes the grant (the git process has ended). */
  close(): void;
}

export interface GitCredentialBroker {
  /** `owner/name` when `url` is a repository on the configured GitHub host, else undefined. */
  repoOf(url: string): string | undefined;
  /**
   * A grant for the GitHub remotes among `urls`, or undefined when none is one (or no credential
   * is configured). `push` fails with ToolError when the credential cannot be had; `fetch` goes on
   * without it (a public repository still clones).
   */
  open(
    urls: readonly string[],
    access: 'fetch' | 'push',
    o?: { refs?: string[]; signal?: AbortSignal },
  ): Promise<GitCredentialGrant | undefined>;
}

/** `https://host[:port]` (GITHUB_GIT_URL) → the repository a remote URL names there. */
export function githubRepoOf(url: string, gitBase: string): string | undefined {
  const base = new URL(gitBase);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && /^https?:/i.test(url)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return undefined;
    }
    if (u.origin !== base.origin || u.username || u.password || u.search || u.hash) return undefined;
    const parts = u.pathname
      .replace(/\/+$/, '')
      .replace(/\.git$/, '')
      .split('/')
      .filter(Boolean);
    const repo = parts.length === 2 ? `${parts[0]}/${parts[1]}` : '';
    return REPO.test(repo) ? repo : undefined;
  }
  // ssh:// and scp-like (git@github.com:owner/name.git): the same repository, pushed over HTTPS.
  const ssh = parseGitHubRemote(url);
  if (!ssh || /^https?:/i.test(url) || ssh.host !== base.hostname) return undefined;
  return ssh.repo;
}

export function createGitCredentialBroker(o: {
  proxy: GitCredentialProxy;
  credentials: GitHubCredentials;
  gitBaseUrl: string;
}): GitCredentialBroker {
  const base = o.gitBaseUrl.replace(/\/+$/, '');
  const repoOf = (url: string) => githubRepoOf(url, base);
  return {
    repoOf,
    async open(urls, access, opts = {}) {
      if (!o.credentials.configured) return undefined;
      const grants: Array<{ grant: GitGrant; url: string }> = [];
      const close = () => {
        for (const g of grants) g.grant.revoke();
      };
      try {
        for (const url of urls) {
          const repo = repoOf(url);
          if (!repo) continue;
          // Asked now so a missing installation is a clear tool error, not a git 403.
          try {
            await o.credentials.tokenFor(repo, opts.signal);
          } catch (err) {
            if (access === 'fetch' && err instanceof GitHubAuthError) continue;
            throw new ToolError(
              'github_auth',
              `No GitHub credentials for ${repo}: ${(err as Error).message}`,
            );
          }
          const grant = o.proxy.grant({
            upstream: `${base}/${repo}.git`,
            services: [access === 'push' ? 'git-receive-pack' : 'git-upload-pack'],
            ...(access === 'push' && opts.refs ? { refs: opts.refs } : {}),
            label: `${access} ${repo}`,
            authorization: async () => {
              const token = await o.credentials.tokenFor(repo);
              if (!token) throw new Error('no GitHub credential is configured');
              return `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
            },
          });
          grants.push({ grant, url });
        }
      } catch (err) {
        close();
        throw err;
      }
      if (grants.length === 0) return undefined;
      const pairs: Array<[string, string]> = [];
      for (const { grant, url } of grants) {
        pairs.push([`url.${grant.url}.insteadOf`, url]);
        if (access === 'push') pairs.push([`url.${grant.url}.pushInsteadOf`, url]);
      }
      const env: Record<string, string> = { GIT_CONFIG_COUNT: String(pairs.length) };
      pairs.forEach(([k, v], i) => {
        env[`GIT_CONFIG_KEY_${i}`] = k;
        env[`GIT_CONFIG_VALUE_${i}`] = v;
      });
      return {
        env,
        redact: (text) => grants.reduce((t, g) => t.split(g.grant.url).join(g.url), text),
        close,
      };
    },
  };
}
