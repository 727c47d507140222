// GitHub App credentials against the fake GitHub API (which verifies the RS256 JWT with the App's
// public key): installation tokens are minted per repository, cached, minted again before they
// expire — on a manual clock — and the gh tool uses them.
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { noSandbox } from '../../src/sandbox/types.ts';
import {
  createGitHubCredentials,
  GitHubAuthError,
  REFRESH_MARGIN_MS,
} from '../../src/security/github-credentials.ts';
import { createGhTool } from '../../src/tools/gh.ts';
import { ManualClock } from '../helpers/clock.ts';
import { type FakeGitHub, startFakeGitHub } from '../helpers/fake-github-api.ts';
import { makeFixture, run } from './helpers.ts';

let gh: FakeGitHub | undefined;
afterEach(async () => {
  await gh?.close();
  gh = undefined;
});

async function appSetup(clock: ManualClock) {
  gh = await startFakeGitHub({
    now: clock.now,
    app: { appId: '4242', installations: { 'acme/widgets': 7, 'acme/gadgets': 7 } },
    repos: { 'acme/widgets': {}, 'acme/gadgets': {}, 'other/secret': {} },
  });
  const creds = createGitHubCredentials({
    app: { appId: '4242', privateKey: gh.privateKeyPem! },
    apiUrl: gh.url,
    clock,
  });
  return { gh, creds };
}

describe('GitHub App installation tokens', () => {
  it('mints one token per repository, caches it, and mints a new one before it expires', async () => {
    const clock = new ManualClock();
    const { gh, creds } = await appSetup(clock);
    expect(creds.kind).toBe('app');

    const t1 = await creds.tokenFor('acme/widgets');
    expect(t1).toMatch(/^ghs_fake/);
    // The fake checked the JWT (signature, iss, exp ≤ 10 min) and saw the body GitHub requires.
    const lookup = gh.seen.find((s) => s.path === '/repos/acme/widgets/installation')!;
    expect(lookup.as).toBe('app');
    expect(lookup.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    const mintReq = gh.seen.find((s) => s.path === '/app/installations/7/access_tokens')!;
    expect(mintReq.method).toBe('POST');
    expect(mintReq.body).toEqual({ repositories: ['widgets'] });

    // Cached: the same token, no new request.
    const count = gh.seen.length;
    expect(await creds.tokenFor('acme/widgets')).toBe(t1);
    expect(await creds.tokenFor('ACME/Widgets')).toBe(t1);
    expect(gh.seen.length).toBe(count);

    // Another repository: its own token (installation tokens are scoped to one repository).
    const t2 = await creds.tokenFor('acme/gadgets');
    expect(t2).not.toBe(t1);
    expect(gh.minted.map((m) => m.repo)).toEqual(['acme/widgets', 'acme/gadgets']);

    // Shortly before expiry (inside the refresh margin) a new one is minted; the installation id
    // is remembered (no second lookup).
    await clock.advance(3600_000 - REFRESH_MARGIN_MS + 1000);
    const t3 = await creds.tokenFor('acme/widgets');
    expect(t3).not.toBe(t1);
    expect(gh.seen.filter((s) => s.path === '/repos/acme/widgets/installation')).toHaveLength(1);
    expect(gh.seen.filter((s) => s.path === '/app/installations/7/access_tokens')).toHaveLength(3);
    // The JWT of the later mint was made at the moved clock (the fake refuses an expired one).
    expect(gh.seen.at(-1)!.as).toBe('app');
    expect(creds.liveTokens()).toContain(t3);
  });

  it('concurrent callers share one mint', async () => {
    const clock = new ManualClock();
    const { gh, creds } = await appSetup(clock);
    const all = await Promise.all([1, 2, 3, 4].map(() => creds.tokenFor('acme/widgets')));
    expect(new Set(all).size).toBe(1);
    expect(gh.minted).toHaveLength(1);
  });

  it('a repository without the App installed is a clear error; a bad key is refused by GitHub', async () => {
    const clock = new ManualClock();
    const { gh, creds } = await appSetup(clock);
    await expect(creds.tokenFor('other/secret')).rejects.toThrow(/not installed on other\/secret/);
    await expect(creds.tokenFor('other/secret')).rejects.toBeInstanceOf(GitHubAuthError);
    // A JWT signed with another key: 401 from GitHub, reported with its status.
    const { generateKeyPairSync } = await import('node:crypto');
    const wrong = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs1',
      format: 'pem',
    });
    const bad = createGitHubCredentials({
      app: { appId: '4242', privateKey: String(wrong) },
      apiUrl: gh.url,
      clock,
    });
    await expect(bad.tokenFor('acme/widgets')).rejects.toMatchObject({ status: 401 });
    // A JWT of the wrong App id is refused too.
    const otherApp = createGitHubCredentials({
      app: { appId: '999', privateKey: gh.privateKeyPem! },
      apiUrl: gh.url,
      clock,
    });
    await expect(otherApp.tokenFor('acme/widgets')).rejects.toMatchObject({ status: 401 });
  });

  it('the gh tool opens a pull request with the installation token of that repository', async () => {
    const clock = new ManualClock();
    const { gh, creds } = await appSetup(clock);
    const fx = await makeFixture({ GITHUB_API_URL: gh.url });
    try {
      const git = (...a: string[]) =>
        execFileSync('git', a, { cwd: fx.workspace, env: { PATH: '/usr/bin:/bin' } });
      git('init', '-q', '-b', 'feature/app');
      git('remote', 'add', 'origin', 'https://github.com/acme/widgets.git');
      const tool = createGhTool({ config: fx.config, sandbox: noSandbox, github: creds });
      const r = await run(tool, { operation: 'pr_create', title: 'By the App', body: 'hi' }, fx.ctx);
      expect(r.isError, r.output).toBe(false);
      expect(r.meta).toMatchObject({ pullRequest: { url: 'https://github.com/acme/widgets/pull/1' } });
      const post = gh.seen.find((s) => s.method === 'POST' && s.path === '/repos/acme/widgets/pulls')!;
      expect(post.authorization).toBe(`token ${gh.minted[0]!.token}`);
      expect(post.body).toMatchObject({ title: 'By the App', head: 'feature/app', base: 'main' });
      // The token of one repository does not open another: GitHub answers 404, the tool says so.
      const other = await run(tool, { operation: 'pr_view', repo: 'other/secret', number: 1 }, fx.ctx);
      expect(other.isError).toBe(true);
      expect(other.output).toMatch(/not installed on other\/secret/);
      expect(JSON.stringify([r, other])).not.toContain(gh.minted[0]!.token);
    } finally {
      await fx.cleanup();
    }
  });
});
