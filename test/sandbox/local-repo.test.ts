// The local-repository policy (ALLOW_FILE_REPOS): which host directories a run may use as a clone
// source or a fetch/push remote. Pure path logic on real directories; the end-to-end attacks
// (real git in bubblewrap) are in test/security/git-local-remotes.test.ts.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLocalRepoPolicy, localRepoPath } from '../../src/sandbox/repo/local.ts';

const serverDir = path.resolve(import.meta.dirname, '..', '..');

let tmp: string;
let dataDir: string;
let roots: string;
let outside: string;
let ws: string;
beforeAll(() => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'local-repo-')));
  dataDir = path.join(tmp, 'data');
  roots = path.join(tmp, 'roots');
  outside = path.join(tmp, 'outside');
  ws = path.join(dataDir, 'workspaces', 's1');
  for (const d of [
    ws,
    path.join(dataDir, 'workspaces', 's2', 'repo.git'),
    path.join(dataDir, 'homes', 's1'),
    path.join(roots, 'a.git'),
    path.join(outside, 'origin.git'),
    path.join(outside, 'stray.git'),
    path.join(ws, 'inner.git'),
  ])
    mkdirSync(d, { recursive: true });
  // Symlinks under a root that lead to protected places are judged by where they lead.
  symlinkSync(path.join(dataDir, 'workspaces', 's2', 'repo.git'), path.join(roots, 'other-session.git'));
  symlinkSync(serverDir, path.join(roots, 'server'));
  symlinkSync(path.join(outside, 'stray.git'), path.join(roots, 'stray-link.git'));
  symlinkSync(path.join(roots, 'a.git'), path.join(outside, 'to-root.git'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const policy = (env: Record<string, string> = {}) =>
  createLocalRepoPolicy(
    loadConfig({ DATA_DIR: dataDir, ALLOW_FILE_REPOS: 'true', FILE_REPO_ROOTS: roots, ...env }),
  );
const check = (url: string, origin?: string, env?: Record<string, string>) =>
  policy(env).check(url, { workspace: ws, cwd: ws, ...(origin ? { origin } : {}) });
const refused = (url: string, origin?: string, env?: Record<string, string>) => {
  const c = check(url, origin, env);
  return c.ok ? null : c.reason;
};

describe('local repository policy', () => {
  it('allows repositories under FILE_REPO_ROOTS, the session origin and the workspace itself', () => {
    expect(check(path.join(roots, 'a.git'))).toEqual({
      ok: true,
      local: true,
      path: path.join(roots, 'a.git'),
      inWorkspace: false,
    });
    expect(check(`file://${roots}/a.git`)).toMatchObject({ ok: true, path: path.join(roots, 'a.git') });
    // A symlink outside the roots that leads into one is judged by its target.
    expect(check(path.join(outside, 'to-root.git'))).toMatchObject({
      ok: true,
      path: path.join(roots, 'a.git'),
    });
    const origin = path.join(outside, 'origin.git');
    expect(check(origin, `file://${origin}`)).toMatchObject({ ok: true, inWorkspace: false });
    expect(check(`file://${origin}`, origin)).toMatchObject({ ok: true });
    expect(check('inner.git')).toMatchObject({ ok: true, inWorkspace: true });
    expect(check('https://github.com/o/r.git')).toEqual({ ok: true, local: false });
  });

  it('refuses anything else outside the roots', () => {
    expect(refused(path.join(outside, 'stray.git'))).toMatch(
      /neither the session's repository nor under FILE_REPO_ROOTS/,
    );
    expect(refused(path.join(roots, 'stray-link.git'))).toMatch(/nor under FILE_REPO_ROOTS/);
    expect(refused(path.join(roots, 'a.git'), undefined, { FILE_REPO_ROOTS: '' })).toMatch(/none configured/);
    // The origin allows itself, not its neighbours.
    expect(refused(path.join(outside, 'stray.git'), path.join(outside, 'origin.git'))).toMatch(/nor under/);
    expect(refused(path.join(roots, 'nope.git'))).toMatch(/does not exist/);
    expect(refused(path.join(roots, 'a.git'), undefined, { ALLOW_FILE_REPOS: 'false' })).toMatch(
      /ALLOW_FILE_REPOS/,
    );
  });

  it('refuses protected places even under a root or as the origin', () => {
    const everything = { FILE_REPO_ROOTS: '/' };
    const bad: Array<[string, RegExp]> = [
      [serverDir, /server's checkout|contains/],
      [path.join(serverDir, '.git'), /server's checkout/],
      [path.join(serverDir, 'src'), /server's checkout/],
      [path.join(roots, 'server'), /server's checkout|contains/],
      [dataDir, /contains/],
      [path.join(dataDir, 'workspaces', 's2', 'repo.git'), /DATA_DIR/],
      [path.join(roots, 'other-session.git'), /DATA_DIR/],
      [path.join(dataDir, 'homes', 's1'), /DATA_DIR/],
      [os.homedir(), /home|contains/],
      ['/etc', /contains|inside/],
      ['/usr/share', /inside \/usr/],
      ['/', /root directory/],
    ];
    if (realpathSync('/root') !== '/') bad.push(['/root', /root|contains/]);
    for (const [p, why] of bad) {
      expect(refused(p, undefined, everything), p).toMatch(why);
      expect(refused(`file://${p}`, `file://${p}`), p).toMatch(why);
    }
  });

  it('refuses spellings where git and the check could read different paths', () => {
    const a = path.join(roots, 'a.git');
    expect(refused(`file://${a}?x`)).toMatch(/"\?" or "#"/);
    expect(refused(`file://${a}#x`)).toMatch(/"\?" or "#"/);
    expect(refused(`file://evil.example${a}`)).toMatch(/must not name a host/);
    expect(refused('~root/repo.git')).toMatch(/must not start with "~"/);
    expect(refused(`file://${roots}/a%2fb`)).toMatch(/malformed/);
    expect(localRepoPath(`file://localhost${a}`, ws)).toEqual({ path: a });
    expect(localRepoPath('../x', ws)).toEqual({ path: path.join(dataDir, 'workspaces', 'x') });
    // A relative path that climbs out of the workspace is judged where it lands.
    expect(refused('../s2/repo.git')).toMatch(/DATA_DIR/);
  });
});

describe('FILE_REPO_ROOTS', () => {
  it('takes absolute directories and refuses relative ones', () => {
    expect(loadConfig({ FILE_REPO_ROOTS: '/srv/git/, /opt/repos' }).fileRepoRoots).toEqual([
      '/srv/git',
      '/opt/repos',
    ]);
    expect(loadConfig({}).fileRepoRoots).toEqual([]);
    expect(() => loadConfig({ FILE_REPO_ROOTS: 'repos' })).toThrow(/FILE_REPO_ROOTS.*absolute/);
  });
});
