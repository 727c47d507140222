import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { noSandbox } from '../../src/sandbox/types.ts';
import { createFsTool } from '../../src/tools/fs.ts';
import { cloneRepository, createGitTool } from '../../src/tools/git.ts';
import { type Fixture, makeFixture, run } from './helpers.ts';

const GIT_ENV = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Seed',
  GIT_AUTHOR_EMAIL: 'seed@example.com',
  GIT_COMMITTER_NAME: 'Seed',
  GIT_COMMITTER_EMAIL: 'seed@example.com',
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'protocol.file.allow=always', ...args], {
    cwd,
    env: GIT_ENV,
    encoding: 'utf8',
  }).trim();

let fx: Fixture;
// Local repositories live under FILE_REPO_ROOTS, outside DATA_DIR (which holds only workspaces).
let repos: string;
let origin: string;
let tool: ReturnType<typeof createGitTool>;

beforeEach(async () => {
  repos = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'tools-repos-')));
  fx = await makeFixture({ FILE_REPO_ROOTS: repos });
  origin = path.join(repos, 'origin.git');
  git(repos, 'init', '-q', '--bare', '-b', 'main', origin);
  const seed = path.join(repos, 'seed');
  git(repos, 'init', '-q', '-b', 'main', seed);
  await fsp.writeFile(path.join(seed, 'README.md'), '# demo\n');
  git(seed, 'add', '-A');
  git(seed, 'commit', '-q', '-m', 'initial');
  git(seed, 'push', '-q', origin, 'main');
  tool = createGitTool({ config: fx.config, sandbox: noSandbox });
});
afterEach(async () => {
  await fx.cleanup();
  rmSync(repos, { recursive: true, force: true });
});

const g = (input: Record<string, unknown>) => run(tool, input, fx.ctx);
const code = async (p: Promise<unknown>) => {
  try {
    const r = (await p) as { isError: boolean };
    return r.isError ? 'error-result' : 'ok';
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

describe('git tool', () => {
  it('clones, commits and pushes to a bare origin', async () => {
    const cloned = await g({ operation: 'clone', repoUrl: origin });
    expect(cloned.isError).toBe(false);
    expect(cloned.meta).toEqual({ clone: { repoUrl: origin, branch: 'main', path: '.' } });
    expect(await fsp.readFile(path.join(fx.workspace, 'README.md'), 'utf8')).toBe('# demo\n');

    await fsp.writeFile(path.join(fx.workspace, 'new.txt'), 'new\n');
    expect((await g({ operation: 'status' })).output).toContain('new.txt');
    const nothingStaged = await g({ operation: 'commit', message: 'x' });
    expect(nothingStaged.isError).toBe(true);
    expect(nothingStaged.output).toMatch(/no changes are staged/);

    const commit = await g({ operation: 'commit', message: 'Add new.txt\n\nBody line', all: true });
    expect(commit.isError).toBe(false);
    const sha = git(fx.workspace, 'rev-parse', 'HEAD');
    expect(commit.meta).toEqual({ commit: { sha, message: 'Add new.txt\n\nBody line' } });
    expect(git(fx.workspace, 'log', '-1', '--format=%an <%ae>')).toBe(
      `${fx.config.gitAuthorName} <${fx.config.gitAuthorEmail}>`,
    );

    const again = await g({ operation: 'commit', message: 'empty', all: true });
    expect(again.isError).toBe(true);
    expect(again.output).toMatch(/Nothing to commit/);

    const push = await g({ operation: 'push' });
    expect(push.isError).toBe(false);
    expect(push.meta).toMatchObject({ push: { remote: 'origin', branch: 'main' } });
    expect(git(origin, 'log', '-1', '--format=%H %s', 'main')).toBe(`${sha} Add new.txt`);
    expect(git(fx.workspace, 'rev-parse', '--abbrev-ref', '@{u}')).toBe('origin/main');
  });

  it('supports add, diff, log, branch, checkout and pull', async () => {
    await g({ operation: 'clone', repoUrl: origin });
    await fsp.writeFile(path.join(fx.workspace, 'README.md'), '# changed\n');
    expect((await g({ operation: 'diff' })).output).toContain('+# changed');
    const added = await g({ operation: 'add', paths: ['README.md'] });
    expect(added.output).toContain('M  README.md');
    expect((await g({ operation: 'diff' })).output).toBe('(no changes)');
    expect((await g({ operation: 'diff', staged: true })).output).toContain('+# changed');
    await g({ operation: 'commit', message: 'change readme' });
    const log = await g({ operation: 'log', limit: 5 });
    expect(log.output.split('\n')).toHaveLength(2);
    expect(log.output).toMatch(/change readme/);

    expect((await g({ operation: 'branch', branch: 'feature/x' })).output).toBe('Created branch feature/x');
    expect((await g({ operation: 'checkout', branch: 'feature/x' })).isError).toBe(false);
    expect((await g({ operation: 'checkout', branch: 'topic', create: true })).isError).toBe(false);
    expect(git(fx.workspace, 'branch', '--show-current')).toBe('topic');
    expect((await g({ operation: 'branch' })).output).toContain('* topic');
    const pushed = await g({ operation: 'push' });
    expect(pushed.meta).toMatchObject({ push: { remote: 'origin', branch: 'topic' } });
    expect(git(origin, 'branch', '--list', 'topic')).toContain('topic');

    await fsp.writeFile(path.join(fx.workspace, 'README.md'), 'scratch\n');
    await g({ operation: 'checkout', paths: ['README.md'] });
    expect(await fsp.readFile(path.join(fx.workspace, 'README.md'), 'utf8')).toBe('# changed\n');

    // Someone else advances origin/main; pull brings it in.
    const other = path.join(fx.tmp, 'other');
    git(fx.tmp, 'clone', '-q', origin, other);
    await fsp.writeFile(path.join(other, 'remote.txt'), 'r\n');
    git(other, 'add', '-A');
    git(other, 'commit', '-q', '-m', 'remote change');
    git(other, 'push', '-q', 'origin', 'main');
    await g({ operation: 'checkout', branch: 'main' });
    await g({ operation: 'push' });
    const pulled = await g({ operation: 'pull' });
    expect(pulled.isError).toBe(false);
    expect(existsSync(path.join(fx.workspace, 'remote.txt'))).toBe(true);
  });

  it('clones into a named path when the workspace is not empty', async () => {
    await fsp.writeFile(path.join(fx.workspace, 'notes.txt'), 'x');
    const r = await g({ operation: 'clone', repoUrl: origin });
    expect(r.meta).toMatchObject({ clone: { path: 'origin' } });
    const r2 = await g({ operation: 'clone', repoUrl: `file://${origin}`, path: 'sub/dir' });
    expect(r2.isError).toBe(false);
    expect((await g({ operation: 'log', path: 'sub/dir' })).output).toMatch(/initial/);
    await expect(g({ operation: 'clone', repoUrl: origin, path: '../escape' })).rejects.toMatchObject({
      code: 'path_outside_workspace',
    });
  });

  it('refuses unsafe URLs and file repos when not allowed', async () => {
    await expect(g({ operation: 'clone', repoUrl: 'ext::sh -c touch% /tmp/x' })).rejects.toMatchObject({
      code: 'invalid_repo_url',
    });
    await expect(g({ operation: 'clone', repoUrl: '--upload-pack=touch /tmp/x' })).rejects.toMatchObject({
      code: 'invalid_repo_url',
    });
    const strict = createGitTool({ config: { ...fx.config, allowFileRepos: false }, sandbox: noSandbox });
    await expect(run(strict, { operation: 'clone', repoUrl: origin }, fx.ctx)).rejects.toMatchObject({
      code: 'invalid_repo_url',
    });
    await expect(
      run(strict, { operation: 'clone', repoUrl: `file://${origin}` }, fx.ctx),
    ).rejects.toMatchObject({ code: 'invalid_repo_url' });
  });

  it('never runs hooks or fsmonitor from a hostile .git/config', async () => {
    await g({ operation: 'clone', repoUrl: origin });
    const tag = randomBytes(6).toString('hex');
    const markers = ['fsmonitor', 'hookspath', 'default-hook', 'post-commit', 'sshcmd'].map((m) =>
      path.join(fx.tmp, `pwned-${m}-${tag}`),
    );
    const [fsmonitor, hooksPath, defaultHook, postCommit, sshCmd] = markers as [
      string,
      string,
      string,
      string,
      string,
    ];
    const hookDir = path.join(fx.tmp, 'evil-hooks');
    await fsp.mkdir(hookDir);
    const hook = (marker: string) => `#!/bin/sh\ntouch ${marker}\n`;
    await fsp.writeFile(path.join(hookDir, 'pre-commit'), hook(hooksPath), { mode: 0o755 });
    await fsp.writeFile(path.join(fx.workspace, '.git/hooks/pre-commit'), hook(defaultHook), { mode: 0o755 });
    await fsp.writeFile(path.join(fx.workspace, '.git/hooks/post-commit'), hook(postCommit), { mode: 0o755 });
    git(fx.workspace, 'config', 'core.fsmonitor', `touch ${fsmonitor}; echo`);
    git(fx.workspace, 'config', 'core.hooksPath', hookDir);
    git(fx.workspace, 'config', 'core.sshCommand', `touch ${sshCmd}; ssh`);
    git(fx.workspace, 'config', 'credential.helper', `!touch ${sshCmd}; echo`);

    await fsp.writeFile(path.join(fx.workspace, 'f.txt'), 'x');
    expect((await g({ operation: 'status' })).isError).toBe(false);
    expect((await g({ operation: 'diff' })).isError).toBe(false);
    const commit = await g({ operation: 'commit', message: 'safe', all: true });
    expect(commit.isError).toBe(false);
    expect((await g({ operation: 'push' })).isError).toBe(false);
    for (const m of markers) expect(existsSync(m), m).toBe(false);
  });

  it.each([
    ['filter.x.smudge', 'touch /tmp/pwned'],
    ['filter.lfs.process', 'evil'],
    ['diff.x.textconv', 'evil'],
    ['diff.external', 'evil'],
    ['merge.x.driver', 'evil'],
    ['include.path', '/tmp/evil.cfg'],
    ['includeIf.gitdir:/.path', '/tmp/evil.cfg'],
    ['core.gitProxy', 'evil'],
    ['core.worktree', '..'],
    ['remote.origin.uploadpack', 'evil'],
    ['gpg.program', 'evil'],
    ['http.proxy', 'http://attacker:8080'],
    ['http.https://github.com/.sslVerify', 'false'],
    ['http.sslCipherList', 'NULL'],
    ['http.proxyAuthMethod', 'basic'],
    ['http.https://github.com/.proxySSLCert', '/tmp/x'],
    ['remote.origin.proxy', 'http://127.0.0.1:9'],
    ['remote.origin.proxyAuthMethod', 'basic'],
    ['protocol.fd.allow', 'always'],
    ['trailer.x.command', 'touch /tmp/pwned'],
  ])('refuses a repository whose config sets %s', async (key, value) => {
    await g({ operation: 'clone', repoUrl: origin });
    git(fx.workspace, 'config', key, value);
    await expect(g({ operation: 'status' })).rejects.toMatchObject({ code: 'unsafe_repo_config' });
    await expect(g({ operation: 'commit', message: 'x', all: true })).rejects.toMatchObject({
      code: 'unsafe_repo_config',
    });
  });

  it('refuses a work tree configured outside the workspace', async () => {
    await g({ operation: 'clone', repoUrl: origin });
    git(fx.workspace, 'config', 'core.worktree', fx.tmp);
    await expect(g({ operation: 'status' })).rejects.toMatchObject({ code: 'path_outside_workspace' });
  });

  it('refuses a .git file that points at a repository outside the workspace', async () => {
    const outsideRepo = path.join(fx.tmp, 'outside-repo');
    git(fx.tmp, 'clone', '-q', origin, outsideRepo);
    await fsp.writeFile(path.join(fx.workspace, '.git'), `gitdir: ${path.join(outsideRepo, '.git')}\n`);
    await expect(g({ operation: 'status' })).rejects.toMatchObject({ code: 'path_outside_workspace' });
  });

  it('does not discover a repository above the workspace', async () => {
    git(fx.tmp, 'init', '-q');
    await expect(g({ operation: 'status' })).rejects.toMatchObject({ code: 'not_a_repository' });
  });

  it('validates names passed to git', async () => {
    await g({ operation: 'clone', repoUrl: origin });
    expect(await code(g({ operation: 'branch', branch: '--delete' }))).toBe('invalid_input');
    expect(await code(g({ operation: 'checkout', branch: '-f' }))).toBe('invalid_input');
    expect(await code(g({ operation: 'push', remote: '--exec=evil' }))).toBe('invalid_input');
    expect(await code(g({ operation: 'log', ref: '--output=/tmp/x' }))).toBe('invalid_input');
    expect(await code(g({ operation: 'add', paths: ['../x'] }))).toBe('path_outside_workspace');
    expect(await code(g({ operation: 'push', remote: 'nope' }))).toBe('unknown_remote');
  });

  it('never pushes submodules: a recursive push would run git in a repository nobody checked', async () => {
    // A submodule with a commit its remote lacks, whose own config runs a command on push.
    const subOrigin = path.join(repos, 'sub.git');
    git(repos, 'clone', '-q', '--bare', origin, subOrigin);
    await g({ operation: 'clone', repoUrl: origin });
    git(fx.workspace, 'submodule', '-q', 'add', subOrigin, 'sub');
    git(fx.workspace, 'commit', '-qm', 'add sub');
    const sub = path.join(fx.workspace, 'sub');
    await fsp.writeFile(path.join(sub, 'x.txt'), 'x');
    git(sub, 'add', '.');
    git(sub, 'commit', '-qm', 'unpushed');
    git(fx.workspace, 'commit', '-qam', 'bump sub');
    const marker = path.join(repos, `pwned-${randomBytes(6).toString('hex')}`);
    git(sub, 'config', 'remote.origin.receivepack', `touch ${marker}; git-receive-pack`);
    git(fx.workspace, 'config', 'push.recurseSubmodules', 'on-demand');
    const push = await g({ operation: 'push' });
    // Already neutralised by -c submodule.recurse=false; push.recurseSubmodules=no and
    // --no-recurse-submodules keep it so should either change.
    expect(existsSync(marker)).toBe(false);
    expect(push.isError, push.output).toBe(false);
    expect(git(subOrigin, 'log', '-1', '--format=%s', 'main')).toBe('initial');
  });

  it('refuses local remotes outside FILE_REPO_ROOTS and the origin, also without the sandbox', async () => {
    await g({ operation: 'clone', repoUrl: origin });
    const stray = path.join(fx.tmp, '..', `stray-${randomBytes(4).toString('hex')}.git`);
    git(repos, 'clone', '-q', '--bare', origin, stray);
    try {
      git(fx.workspace, 'remote', 'add', 'stray', stray);
      await expect(g({ operation: 'push', remote: 'stray' })).rejects.toMatchObject({
        code: 'invalid_repo_url',
      });
      await expect(g({ operation: 'pull', remote: 'stray' })).rejects.toMatchObject({
        code: 'invalid_repo_url',
      });
      // Allowed as the session's origin.
      const asOrigin = await run(tool, { operation: 'push', remote: 'stray' }, { ...fx.ctx, origin: stray });
      expect(asOrigin.isError, asOrigin.output).toBe(false);
    } finally {
      rmSync(stray, { recursive: true, force: true });
    }
  });

  it('refuses to push to a remote URL the server may not contact', async () => {
    await g({ operation: 'clone', repoUrl: origin });
    git(fx.workspace, 'remote', 'set-url', 'origin', 'ext::sh -c touch% /tmp/pwned');
    await expect(g({ operation: 'push' })).rejects.toMatchObject({ code: 'invalid_repo_url' });
  });

  it('works with files the fs tool wrote', async () => {
    await g({ operation: 'clone', repoUrl: origin });
    const fs = createFsTool({ config: fx.config });
    await run(fs, { operation: 'write', path: 'src/app.ts', content: 'export {};\n' }, fx.ctx);
    const r = await g({ operation: 'commit', message: 'app', all: true });
    expect(r.isError).toBe(false);
    expect(git(fx.workspace, 'show', '--stat', '--format=', 'HEAD')).toContain('src/app.ts');
  });
});

describe('cloneRepository', () => {
  it('prepares a session workspace and refuses a non-empty destination', async () => {
    const ws = path.join(fx.tmp, 'workspaces', 'fresh');
    mkdirSync(ws);
    const clone = (over: Record<string, unknown> = {}) =>
      cloneRepository({
        config: fx.config,
        sandbox: noSandbox,
        repoUrl: origin,
        workspace: ws,
        dest: '.',
        env: fx.ctx.env,
        ...over,
      });
    const res = await clone();
    expect(res.branch).toBe('main');
    expect(res.sha).toBe(git(origin, 'rev-parse', 'main'));
    // --no-local: objects are copied, never hard-linked to the source repository.
    const objects = execFileSync('find', [path.join(ws, '.git/objects'), '-type', 'f', '-links', '+1'], {
      encoding: 'utf8',
    });
    expect(objects.trim()).toBe('');
    await expect(clone()).rejects.toMatchObject({ code: 'destination_not_empty' });
    await expect(clone({ branch: 'nope', dest: 'sub' })).rejects.toMatchObject({ code: 'clone_failed' });
    await expect(clone({ dest: '../escape' })).rejects.toMatchObject({ code: 'path_outside_workspace' });
    await expect(clone({ dest: '/tmp/x' })).rejects.toMatchObject({ code: 'path_outside_workspace' });
  });
});
