import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { githubRepoOf } from '../../src/tools/git-credentials.ts';
import { findUnsafeConfig, gitArgs, gitEnv, parseConfigList } from '../../src/tools/git-safety.ts';

const config = loadConfig({ DATA_DIR: '/tmp/x', GITHUB_TOKEN: 'ghp_TESTTOKEN' });

describe('gitArgs', () => {
  it('prefixes the neutralising -c flags before the command', () => {
    const args = gitArgs(config, ['status']);
    expect(args.at(-1)).toBe('status');
    const flags = args.filter((_, i) => args[i - 1] === '-c');
    for (const f of [
      'core.hooksPath=/dev/null',
      'core.fsmonitor=false',
      'core.pager=cat',
      'core.editor=true',
      'core.askPass=',
      'credential.helper=',
      'protocol.ext.allow=never',
      'protocol.file.allow=never',
      'submodule.recurse=false',
      'push.recurseSubmodules=no',
      'ssh.variant=ssh',
    ]) {
      expect(flags).toContain(f);
    }
    expect(gitArgs({ allowFileRepos: true }, [])).toContain('protocol.file.allow=always');
    // A process with network never uses the local transport (another repository's hooks).
    expect(gitArgs({ allowFileRepos: true }, [], { network: true })).toContain('protocol.file.allow=never');
    for (const p of ['fd', 'git', 'http', 'ext']) expect(args).toContain(`protocol.${p}.allow=never`);
    expect(args.join(' ')).not.toContain('ghp_TESTTOKEN');
    // Plain http only for a process whose remote is the server's credential proxy.
    expect(gitArgs(config, [], { network: true, proxied: true })).toContain('protocol.http.allow=always');
  });
});

describe('gitEnv', () => {
  it('drops inherited GIT_* steering and sets the safe values', () => {
    const env = gitEnv(config, {
      PATH: '/usr/bin',
      GIT_DIR: '/elsewhere',
      GIT_SSH_COMMAND: 'evil',
      GIT_ASKPASS: 'evil',
      SSH_ASKPASS: 'evil',
      GIT_CONFIG_PARAMETERS: "'core.hookspath'='/x'",
      GIT_CEILING_DIRECTORIES: '/data',
    });
    expect(env).toEqual({
      PATH: '/usr/bin',
      GIT_CEILING_DIRECTORIES: '/data',
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'duyetbot',
      GIT_AUTHOR_EMAIL: 'duyetbot@users.noreply.github.com',
      GIT_COMMITTER_NAME: 'duyetbot',
      GIT_COMMITTER_EMAIL: 'duyetbot@users.noreply.github.com',
    });
  });
});

describe('githubRepoOf: which remotes get GitHub credentials (through the credential proxy)', () => {
  it('only repositories on the configured host, parsed by the server', () => {
    const base = 'https://github.com';
    expect(githubRepoOf('https://github.com/duyet/repo.git', base)).toBe('duyet/repo');
    expect(githubRepoOf('https://GitHub.com/duyet/repo', base)).toBe('duyet/repo');
    expect(githubRepoOf('https://github.com:443/duyet/repo/', base)).toBe('duyet/repo');
    expect(githubRepoOf('git@github.com:duyet/repo.git', base)).toBe('duyet/repo');
    expect(githubRepoOf('ssh://git@github.com/duyet/repo', base)).toBe('duyet/repo');
    for (const url of [
      'https://github.com.evil.com/x/y',
      'https://evil.com/github.com/x',
      'https://github.com@evil.com/x/y',
      'https://user:pw@github.com/x/y',
      'http://github.com/x/y',
      'https://github.com:8443/x/y',
      'https://github.com/x/y/z',
      'https://github.com/x/y?a=b',
      'https://github.com/x',
      'git@evil.com:x/y.git',
      '/srv/repo.git',
      'file:///srv/x/y',
    ]) {
      expect(githubRepoOf(url, base), url).toBeUndefined();
    }
    // GITHUB_GIT_URL on loopback (tests): the port is part of the host.
    expect(githubRepoOf('http://127.0.0.1:4000/a/b.git', 'http://127.0.0.1:4000')).toBe('a/b');
    expect(githubRepoOf('http://127.0.0.1:4001/a/b.git', 'http://127.0.0.1:4000')).toBeUndefined();
  });
});

describe('findUnsafeConfig', () => {
  it('parses -z output and ignores our command-line flags', () => {
    const raw =
      'local\0core.bare\nfalse\0local\0alias.st\nstatus\0local\0filter.x.smudge\nevil cmd\0' +
      'command\0core.hookspath\n/dev/null\0worktree\0diff.Foo.textconv\nx\ny\0local\0credential.helper\n!evil\0';
    const entries = parseConfigList(raw);
    expect(entries).toHaveLength(6);
    expect(entries[4]).toEqual({ scope: 'worktree', key: 'diff.Foo.textconv', value: 'x\ny' });
    expect(findUnsafeConfig(entries).map((e) => e.key)).toEqual(['filter.x.smudge', 'diff.Foo.textconv']);
  });
});

describe('the refusal list', () => {
  const unsafe = (key: string) => findUnsafeConfig([{ scope: 'local', key, value: 'x' }]).length > 0;
  it('refuses keys that run commands or redirect traffic, in any case and subsection', () => {
    for (const key of [
      'remote.origin.proxy',
      'remote.Up.Stream.proxyAuthMethod',
      'http.proxy',
      'http.proxyAuthMethod',
      'http.https://github.com/.proxySSLCert',
      'http.proxySSLKey',
      'http.sslVerify',
      'http.sslCipherList',
      'http.sslVersion',
      'http.https://github.com/x/.curloptResolve',
      'http.delegation',
      'http.saveCookies',
      'protocol.fd.allow',
      'protocol.hg.allow',
      'trailer.sign.command',
      'trailer.sign.cmd',
      'remote.origin.receivepack',
      'core.gitProxy',
    ]) {
      expect(unsafe(key), key).toBe(true);
    }
  });
  it('leaves ordinary settings alone (insteadOf is expanded and checked per URL instead)', () => {
    for (const key of [
      'remote.origin.url',
      'remote.origin.pushurl',
      'remote.origin.fetch',
      'url.https://github.com/.insteadOf',
      'url./srv/x/.pushInsteadOf',
      'protocol.version',
      'http.postBuffer',
      'http.lowSpeedLimit',
      'trailer.sign.key',
      'user.name',
    ]) {
      expect(unsafe(key), key).toBe(false);
    }
  });
});
