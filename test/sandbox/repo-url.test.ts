import { describe, expect, it } from 'vitest';
import { checkRepoUrl } from '../../src/sandbox/repo/url.ts';

const ok = (url: string, allowFileRepos = false) => checkRepoUrl(url, { allowFileRepos });

describe('checkRepoUrl', () => {
  it.each([
    ['https://github.com/duyet/duyetbot-agent.git', 'https'],
    ['https://github.com/duyet/repo', 'https'],
    ['https://git.example.com:8443/group/sub/repo.git', 'https'],
    ['ssh://git@github.com/duyet/repo.git', 'ssh'],
    ['ssh://github.com:2222/duyet/repo.git', 'ssh'],
    ['git@github.com:duyet/repo.git', 'ssh'],
    ['git@github.com:duyet/repo', 'ssh'],
  ])('accepts %s', (url, kind) => {
    expect(ok(url)).toEqual({ ok: true, kind });
  });

  it.each([
    ['ext::sh -c touch% /tmp/x'],
    ['ext::sh'],
    ['fd::17'],
    ['transport::https://github.com/x/y'],
    ['--upload-pack=touch /tmp/x'],
    ['-u touch'],
    ['http://github.com/x/y'],
    ['git://github.com/x/y'],
    ['ftp://example.com/x'],
    ['https://user:pass@github.com/x/y'],
    ['https://token@github.com/x/y'],
    ['https://github.com/x y'],
    ['https://github.com/x\ny'],
    ['https://github.com/x\ty'],
    ['https://-oProxyCommand=x/y'],
    ['ssh://-oProxyCommand=touch/x'],
    ['ssh://user:pw@host/x'],
    ['git@-oProxyCommand=x:y'],
    ['git@host:-x'],
    ['https://github.com'],
    [''],
    ['javascript:alert(1)'],
    ['host:path'],
  ])('rejects %j', (url) => {
    expect(ok(url).ok).toBe(false);
    expect(ok(url, true).ok).toBe(false);
  });

  it('explains embedded credentials', () => {
    const r = ok('https://user:pass@github.com/x/y');
    expect(r.ok === false && r.reason).toMatch(/credentials/);
  });

  it('allows file:// and local paths only with allowFileRepos', () => {
    for (const url of ['file:///srv/repos/a.git', '/srv/repos/a.git', './repo', '../repo', 'repo.git']) {
      expect(ok(url).ok).toBe(false);
      expect(ok(url, true)).toEqual({ ok: true, kind: 'file' });
    }
  });
});
