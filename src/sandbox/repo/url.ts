// Which repository URLs the server will hand to git. Git URLs are an attack surface of their own:
// `ext::` runs commands, `--upload-pack=` is option injection, `file://` reads the host disk, and
// credentials in a URL end up in logs and .git/config. Anything not plainly recognised is refused.

export type RepoUrlCheck = { ok: true; kind: 'https' | 'ssh' | 'file' } | { ok: false; reason: string };

export interface RepoUrlOptions {
  allowFileRepos: boolean;
  /**
   * GITHUB_GIT_URL: repositories under this base (`<base>/<owner>/<repo>`) are accepted even over
   * plain http or on a loopback host, because the operator configured it (tests, mirrors). Their
   * git traffic goes through the server's credential proxy.
   */
  githubGitUrl?: string;
}

/** `<base>/<owner>/<repo>(.git)`, nothing else (no credentials, query or extra path). */
function underGitHubBase(url: string, base: string): boolean {
  if (!url.toLowerCase().startsWith(`${base.toLowerCase()}/`)) return false;
  const rest = url.slice(base.length + 1);
  return /^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}\/?$/.test(rest) && !/(^|\/)\.\.?(\/|$)/.test(rest);
}

const MAX_URL = 2048;
// Host names (and IPv6 literals in brackets), optional port.
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
// scp-like `user@host:path`; the user part is optional in git but required here so a
// Windows-ish `c:foo` or a bare `host:path` is not mistaken for ssh.
const SCP_LIKE = /^([A-Za-z0-9._-]+)@([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(?!\/\/)(.+)$/;

function fail(reason: string): RepoUrlCheck {
  return { ok: false, reason };
}

export function checkRepoUrl(url: string, opts: RepoUrlOptions): RepoUrlCheck {
  if (typeof url !== 'string' || url.length === 0) return fail('repository URL is empty');
  if (url.length > MAX_URL) return fail('repository URL is too long');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\s\x00-\x1f\x7f]/.test(url)) return fail('repository URL contains whitespace or control characters');
  if (url.startsWith('-')) return fail('repository URL must not start with "-" (option injection)');
  // `<transport>::<address>` makes git run git-remote-<transport>; ext:: and fd:: run commands.
  if (/^[A-Za-z0-9+.-]*::/.test(url))
    return fail('remote-helper URLs ("<transport>::…", e.g. ext::) are not allowed');

  if (opts.githubGitUrl && underGitHubBase(url, opts.githubGitUrl)) return { ok: true, kind: 'https' };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (scheme === 'file') {
      if (!opts.allowFileRepos) return fail('file:// repositories are disabled (set ALLOW_FILE_REPOS=true)');
      return url.length > 'file://'.length ? { ok: true, kind: 'file' } : fail('file:// URL has no path');
    }
    if (scheme !== 'https' && scheme !== 'ssh') {
      return fail(`URL scheme "${scheme}" is not allowed; use https://, ssh:// or git@host:owner/repo`);
    }
    const rest = url.slice(scheme.length + 3);
    const slash = rest.indexOf('/');
    const authority = slash === -1 ? rest : rest.slice(0, slash);
    const at = authority.lastIndexOf('@');
    const userinfo = at === -1 ? '' : authority.slice(0, at);
    const host = at === -1 ? authority : authority.slice(at + 1);
    if (scheme === 'https' && at !== -1) {
      return fail('credentials embedded in the URL are not allowed; configure GITHUB_TOKEN instead');
    }
    if (scheme === 'ssh' && (userinfo.includes(':') || !/^[A-Za-z0-9._-]*$/.test(userinfo))) {
      return fail('ssh URL user part is invalid (passwords in URLs are not allowed)');
    }
    if (!HOST.test(host)) return fail(`invalid host "${host}" in repository URL`);
    if (slash === -1 || rest.length <= slash + 1) return fail('repository URL has no path');
    return { ok: true, kind: scheme === 'https' ? 'https' : 'ssh' };
  }

  // Git reads a ':' before the first '/' as scp-like ssh syntax, so such a value is never a local path.
  const colon = url.indexOf(':');
  const firstSlash = url.indexOf('/');
  if (colon !== -1 && (firstSlash === -1 || colon < firstSlash)) {
    const scp = SCP_LIKE.exec(url);
    if (!scp) return fail('unknown or unsupported repository URL form');
    if ((scp[3] ?? '').startsWith('-')) return fail('repository path must not start with "-"');
    return { ok: true, kind: 'ssh' };
  }
  // Anything left is a local path (absolute or relative).
  if (!opts.allowFileRepos) return fail('local-path repositories are disabled (set ALLOW_FILE_REPOS=true)');
  return { ok: true, kind: 'file' };
}
