// A cloned repository whose config (written by a prompt-injected agent with bash) names hooks,
// an fsmonitor, an ssh command and a pager: the git tool, running git in the bwrap sandbox, must
// execute none of them. (The git-tool tests cover the same without the sandbox.)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { makeSecFixture, type SecFixture } from './helpers.ts';

let fx: SecFixture;
let origin = '';
beforeAll(async () => {
  if (!HAS_BWRAP) return;
  fx = await makeSecFixture();
  // The origin lives outside DATA_DIR (a local mirror, ALLOW_FILE_REPOS=true).
  origin = path.join(fx.outside, 'origin');
  mkdirSync(origin);
  const g = (...a: string[]) => execFileSync('git', ['-C', origin, ...a], { encoding: 'utf8' });
  g('init', '-q', '-b', 'main');
  writeFileSync(path.join(origin, 'README.md'), '# demo\n');
  g('add', '.');
  g('-c', 'user.name=t', '-c', 'user.email=t@e', 'commit', '-qm', 'init');
  // The session's own repository: the one local repository allowed outside FILE_REPO_ROOTS.
  fx.ctx.origin = `file://${origin}`;
});
afterAll(() => fx?.cleanup());

describe.skipIf(!HAS_BWRAP)('git in the sandbox', () => {
  it('clones a local mirror inside the sandbox', async () => {
    const r = await fx.git({ operation: 'clone', repoUrl: `file://${origin}`, path: 'repo' });
    expect(r.isError, r.output).toBe(false);
    expect(existsSync(path.join(fx.workspace, 'repo', 'README.md'))).toBe(true);
  });

  it('never runs hooks, fsmonitor, sshCommand or a pager from a hostile .git/config', async () => {
    const repo = path.join(fx.workspace, 'repo');
    const marks = ['fsmonitor', 'hookspath', 'default-hook', 'post-commit', 'ssh', 'pager', 'outside'].map(
      (m) => (m === 'outside' ? path.join(fx.outside, 'PWNED') : path.join(fx.workspace, `PWNED-${m}`)),
    );
    const [fsmon, hooksPath, defHook, postCommit, ssh, pager, outside] = marks as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const hook = (marker: string) => `#!/bin/sh\ntouch ${marker} ${outside}\n`;
    // What a prompt-injected agent would do with bash inside the sandbox.
    const setup = await fx.bash(
      [
        'cd repo',
        'mkdir -p evil-hooks',
        `printf '${hook(hooksPath).replace(/\n/g, '\\n')}' > evil-hooks/pre-commit`,
        `printf '${hook(defHook).replace(/\n/g, '\\n')}' > .git/hooks/pre-commit`,
        `printf '${hook(postCommit).replace(/\n/g, '\\n')}' > .git/hooks/post-commit`,
        'chmod +x evil-hooks/pre-commit .git/hooks/pre-commit .git/hooks/post-commit',
        `git config core.fsmonitor 'touch ${fsmon} ${outside}; echo'`,
        `git config core.hooksPath "$PWD/evil-hooks"`,
        `git config core.sshCommand 'touch ${ssh} ${outside}; ssh'`,
        `git config core.pager 'touch ${pager} ${outside}; cat'`,
        'git remote set-url origin ssh://git@example.invalid/x.git',
        'echo change >> README.md',
        'echo configured',
      ].join(' && '),
    );
    expect(setup.output).toContain('configured');

    const g = (input: Record<string, unknown>) => fx.git({ path: 'repo', ...input });
    expect((await g({ operation: 'status' })).isError).toBe(false);
    expect((await g({ operation: 'diff' })).isError).toBe(false);
    expect((await g({ operation: 'log', limit: 3 })).isError).toBe(false);
    const commit = await g({ operation: 'commit', message: 'safe', all: true });
    expect(commit.isError, commit.output).toBe(false);
    // Push over ssh: neither the repo's sshCommand runs, nor does anything leave the sandbox.
    const push = await g({ operation: 'push' });
    expect(push.isError).toBe(true);
    for (const m of marks) expect(existsSync(m), m).toBe(false);
    expect(existsSync(repo)).toBe(true);
  });
});
