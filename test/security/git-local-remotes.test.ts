// Local remotes (ALLOW_FILE_REPOS=true) with the real git tool in the real bubblewrap sandbox: an
// agent that names the server's checkout, DATA_DIR, another session's workspace or any repository
// outside FILE_REPO_ROOTS as a clone source or a fetch/push remote — directly, through a second
// pushurl, through url.insteadOf, or through a symlink under a root — is refused with a clear error
// and nothing is written. The session's origin and repositories under the roots keep working.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { hostGit, makeSecFixture, SERVER_DIR, type SecFixture } from './helpers.ts';

/** Every ref and where it points: the "nothing was written" witness. */
const refsOf = (gitDir: string) => hostGit(gitDir, 'for-each-ref', '--format=%(refname) %(objectname)');

let fx: SecFixture;
let roots: string;
let serverTmp: string;
let seed: string;
const repo: Record<string, string> = {};

/** A bare repository with one commit on main. */
function bare(dir: string): string {
  mkdirSync(path.dirname(dir), { recursive: true });
  // Shared: on a root server the sandbox pushes as the session's own unprivileged uid.
  hostGit(path.dirname(dir), 'init', '-q', '--bare', '--shared=0777', '-b', 'main', dir);
  hostGit(seed, 'push', '-q', dir, 'main');
  return dir;
}

beforeAll(async () => {
  if (!HAS_BWRAP) return;
  roots = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'sec-roots-')));
  // A repository inside the server's checkout (.tmp/ is git-ignored): where the review's agent pushed.
  serverTmp = path.join(SERVER_DIR, '.tmp', `git-edges-${process.pid}-${Date.now()}`);
  mkdirSync(serverTmp, { recursive: true });
  fx = await makeSecFixture({ FILE_REPO_ROOTS: roots });
  seed = path.join(fx.outside, 'seed');
  hostGit(fx.outside, 'init', '-q', '-b', 'main', seed);
  writeFileSync(path.join(seed, 'README.md'), '# seed\n');
  hostGit(seed, 'add', '.');
  hostGit(seed, 'commit', '-qm', 'seed');

  repo.allowed = bare(path.join(roots, 'allowed.git'));
  repo.origin = bare(path.join(fx.outside, 'origin.git'));
  repo.server = bare(path.join(serverTmp, 'victim.git'));
  repo.dataDir = bare(path.join(fx.tmp, 'evil.git'));
  repo.stray = bare(path.join(fx.outside, 'stray.git'));
  // Another session's workspace holds a repository of its own.
  hostGit(fx.other, 'init', '-q', '-b', 'main');
  hostGit(fx.other, 'pull', '-q', seed, 'main');
  repo.otherSession = fx.other;
  // Under a root, but leading into the server's checkout.
  symlinkSync(repo.server, path.join(roots, 'link.git'));
  repo.linkToServer = path.join(roots, 'link.git');
  fx.ctx.origin = repo.origin;
});
afterAll(async () => {
  await fx?.cleanup();
  if (roots) rmSync(roots, { recursive: true, force: true });
  if (serverTmp) rmSync(serverTmp, { recursive: true, force: true });
});

const refused = ['server', 'dataDir', 'otherSession', 'stray', 'linkToServer'] as const;

async function code(p: Promise<unknown>): Promise<string> {
  try {
    const r = (await p) as { isError: boolean; output: string };
    return r.isError ? `error-result: ${r.output}` : 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe.skipIf(!HAS_BWRAP)('local remotes in the sandbox', () => {
  it('refuses to clone the server, its .git, DATA_DIR, another session or a repository outside the roots', async () => {
    const sources = [
      ...refused.map((k) => repo[k]!),
      SERVER_DIR,
      path.join(SERVER_DIR, '.git'),
      path.join(SERVER_DIR, 'node_modules'),
      fx.tmp,
    ];
    for (const [i, src] of sources.entries()) {
      for (const url of [src, `file://${src}`]) {
        let err: { code?: string; message?: string } = {};
        try {
          await fx.git({ operation: 'clone', repoUrl: url, path: `c${i}` });
        } catch (e) {
          err = e as typeof err;
        }
        expect(err.code, url).toBe('invalid_repo_url');
        expect(err.message, url).toMatch(/Repository URL refused: /);
        expect(existsSync(path.join(fx.workspace, `c${i}`)), url).toBe(false);
      }
    }
  });

  it('clones, pushes to and pulls from a repository under FILE_REPO_ROOTS and the session origin', async () => {
    for (const [name, src] of [
      ['from-root', repo.allowed!],
      ['from-origin', `file://${repo.origin}`],
    ] as const) {
      const cloned = await fx.git({ operation: 'clone', repoUrl: src, path: name });
      expect(cloned.isError, cloned.output).toBe(false);
      const setup = await fx.bash(
        `cd ${name} && git checkout -q -b feature && echo ${name} > work.txt && git add . && echo ok`,
      );
      expect(setup.output).toContain('ok');
      const commit = await fx.git({ operation: 'commit', path: name, message: `work ${name}`, all: true });
      expect(commit.isError, commit.output).toBe(false);
      const push = await fx.git({ operation: 'push', path: name });
      expect(push.isError, push.output).toBe(false);
      const target = name === 'from-root' ? repo.allowed! : repo.origin!;
      expect(hostGit(target, 'log', '-1', '--format=%s', 'feature')).toBe(`work ${name}`);
      const pull = await fx.git({ operation: 'pull', path: name, branch: 'main' });
      expect(pull.isError, pull.output).toBe(false);
    }
  });

  it('refuses push and pull through a remote that names a refused repository; its refs stay unchanged', async () => {
    const r = await fx.git({ operation: 'clone', repoUrl: repo.allowed!, path: 'work' });
    expect(r.isError, r.output).toBe(false);
    for (const [i, k] of refused.entries()) {
      const target = repo[k]!;
      const before = refsOf(target);
      for (const url of [target, `file://${target}`]) {
        const add = await fx.bash(
          `cd work && git remote remove t${i} 2>/dev/null; git remote add t${i} '${url}' && echo ok`,
        );
        expect(add.output).toContain('ok');
        expect(
          await code(fx.git({ operation: 'push', path: 'work', remote: `t${i}`, branch: `pwned-${i}` })),
        ).toBe('invalid_repo_url');
        expect(await code(fx.git({ operation: 'pull', path: 'work', remote: `t${i}`, branch: 'main' }))).toBe(
          'invalid_repo_url',
        );
      }
      expect(refsOf(target), k).toBe(before);
    }
    // The server's own checkout and its .git (refs there move with other work: look for ours only).
    for (const [i, target] of [SERVER_DIR, path.join(SERVER_DIR, '.git')].entries()) {
      const add = await fx.bash(`cd work && git remote add s${i} '${target}' && echo ok`);
      expect(add.output).toContain('ok');
      expect(
        await code(fx.git({ operation: 'push', path: 'work', remote: `s${i}`, branch: `pwned-s${i}` })),
      ).toBe('invalid_repo_url');
      expect(await code(fx.git({ operation: 'pull', path: 'work', remote: `s${i}`, branch: 'main' }))).toBe(
        'invalid_repo_url',
      );
      // (A copy of the checkout without .git — the unprivileged run — has no refs to look at.)
      if (existsSync(path.join(SERVER_DIR, '.git')))
        expect(hostGit(SERVER_DIR, 'for-each-ref', `refs/heads/pwned-s${i}`)).toBe('');
    }
  });

  it('refuses a push when any push URL is refused: a second pushurl, insteadOf, pushInsteadOf', async () => {
    const cfg = async (script: string) => {
      const r = await fx.bash(`cd work && ${script} && echo configured`);
      expect(r.output, script).toContain('configured');
    };
    const reset = () =>
      cfg(
        `git remote remove origin && git remote add origin '${repo.allowed}' && ` +
          'git config --remove-section url.https://github.com/evil/ 2>/dev/null; true',
      );
    const serverBefore = refsOf(repo.server!);
    const allowedBefore = refsOf(repo.allowed!);

    // Two pushurls: the first allowed, the second into the server's checkout (get-url --push
    // without --all prints only the first).
    await reset();
    await cfg(
      `git config --add remote.origin.pushurl '${repo.allowed}' && git config --add remote.origin.pushurl '${repo.server}'`,
    );
    const two = await code(fx.git({ operation: 'push', path: 'work', branch: 'main' }));
    expect(two).toBe('invalid_repo_url');

    // url.<base>.insteadOf rewrites an innocent-looking https URL into the server's repository.
    await reset();
    await cfg(
      `git remote set-url origin https://github.com/evil/victim.git && git config url.${serverTmp}/.insteadOf https://github.com/evil/`,
    );
    const insteadOf = await fx
      .git({ operation: 'push', path: 'work', branch: 'main' })
      .catch((e: Error) => e);
    expect((insteadOf as { code?: string }).code).toBe('invalid_repo_url');
    expect((insteadOf as Error).message).toContain(repo.server);
    expect(await code(fx.git({ operation: 'pull', path: 'work', branch: 'main' }))).toBe('invalid_repo_url');

    // pushInsteadOf: fetches look fine, pushes go to the server's repository.
    await reset();
    await cfg(
      `git remote set-url origin https://github.com/evil/victim.git && git config url.${serverTmp}/.pushInsteadOf https://github.com/evil/`,
    );
    expect(await code(fx.git({ operation: 'push', path: 'work', branch: 'main' }))).toBe('invalid_repo_url');

    // A proxy for the remote: refused with the repository's config.
    await reset();
    await cfg('git config remote.origin.proxy http://127.0.0.1:9');
    expect(await code(fx.git({ operation: 'push', path: 'work', branch: 'main' }))).toBe(
      'unsafe_repo_config',
    );
    await cfg('git config --unset remote.origin.proxy && git config http.proxyAuthMethod basic');
    expect(await code(fx.git({ operation: 'push', path: 'work', branch: 'main' }))).toBe(
      'unsafe_repo_config',
    );
    await cfg('git config --unset http.proxyAuthMethod');

    expect(refsOf(repo.server!)).toBe(serverBefore);
    expect(refsOf(repo.allowed!)).toBe(allowedBefore);
  });
});
