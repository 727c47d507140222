// Git over authenticated smart HTTP to a "GitHub" (a real `git http-backend` on loopback that demands
// the token as Basic auth), with the token only in the server: clone, push a branch, pull — through
// the git credential proxy, with and without the bubblewrap sandbox.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { createBwrapSandbox } from '../../src/sandbox/index.ts';
import { noSandbox, type SandboxWrapper } from '../../src/sandbox/types.ts';
import { GitCredentialProxy } from '../../src/security/git-credential-proxy.ts';
import { createGitHubCredentials } from '../../src/security/github-credentials.ts';
import { cloneRepository, createGitTool } from '../../src/tools/git.ts';
import { createGitCredentialBroker } from '../../src/tools/git-credentials.ts';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { type GitHttpServer, startGitHttpServer } from '../helpers/git-http-server.ts';
import { tempDir } from '../helpers/server.ts';
import { type Fixture, makeFixture, run } from './helpers.ts';

const TOKEN = 'ghp_smarthttp_secret_0123456789';

let gitServer: GitHttpServer;
let proxy: GitCredentialProxy;
beforeAll(async () => {
  gitServer = await startGitHttpServer(await tempDir('git-http-'), [TOKEN]);
  gitServer.createRepo('acme/widgets', { 'README.md': '# widgets\n', 'math.js': 'module.exports = 1;\n' });
  proxy = new GitCredentialProxy({ logger: silentLogger });
  await proxy.start();
});
afterAll(async () => {
  await proxy.close();
  await gitServer.close();
});

function setup(fx: Fixture, sandbox: SandboxWrapper, token: string | undefined = TOKEN) {
  const credentials = createGitHubCredentials({ token, apiUrl: 'http://127.0.0.1:9' });
  const broker = createGitCredentialBroker({ proxy, credentials, gitBaseUrl: fx.config.githubGitUrl });
  return { broker, git: createGitTool({ config: fx.config, sandbox, gitCredentials: broker }) };
}

const repoUrl = () => `${gitServer.url}/acme/widgets.git`;

for (const mode of ['none', 'bwrap'] as const) {
  describe.skipIf(mode === 'bwrap' && !HAS_BWRAP)(
    `git to an authenticated smart-HTTP GitHub (sandbox ${mode})`,
    () => {
      let fx: Fixture;
      let sandbox: SandboxWrapper = noSandbox;
      afterEach(async () => {
        if (sandbox !== noSandbox && 'close' in sandbox)
          await (sandbox as { close(): Promise<void> }).close();
        await fx.cleanup();
      });
      async function fixture(env: Record<string, string> = {}) {
        fx = await makeFixture({
          GITHUB_GIT_URL: gitServer.url,
          ALLOW_FILE_REPOS: 'false',
          SANDBOX: mode,
          ...env,
        });
        if (mode === 'bwrap') {
          const bw = createBwrapSandbox({ config: fx.config as Config, dataDir: fx.config.dataDir });
          bw.allowLoopbackPort(proxy.port, 'git');
          sandbox = bw;
          // The fixture's workspace is made without identities; a root server's sandbox needs its uid.
          const ids = bw.identities;
          if (ids) execFileSync('chown', ['-R', `${ids.first}:${ids.gid}`, fx.workspace, fx.ctx.env.HOME!]);
        } else sandbox = noSandbox;
        return setup(fx, sandbox);
      }

      it('clones, commits on a branch and pushes it; the token never reaches the git process', async () => {
        const { git } = await fixture();
        const cloned = await run(git, { operation: 'clone', repoUrl: repoUrl(), path: '.' }, fx.ctx);
        expect(cloned.isError, cloned.output).toBe(false);
        // The stored remote is the repository's own URL: nothing of the grant stays on disk.
        const config = execFileSync('cat', [`${fx.workspace}/.git/config`], { encoding: 'utf8' });
        expect(config).toContain(repoUrl());
        expect(config).not.toContain(`127.0.0.1:${proxy.port}`);
        expect(config).not.toContain(TOKEN);

        for (const input of [{ operation: 'checkout', branch: `fix/readme-${mode}`, create: true }] as const)
          expect((await run(git, input, fx.ctx)).isError).toBe(false);
        execFileSync('sh', ['-c', 'echo more >> README.md'], { cwd: fx.workspace });
        expect(
          (await run(git, { operation: 'commit', message: 'More readme', all: true }, fx.ctx)).isError,
        ).toBe(false);
        const pushed = await run(git, { operation: 'push' }, fx.ctx);
        expect(pushed.isError, pushed.output).toBe(false);
        expect(pushed.output).not.toContain(String(proxy.port));
        expect(pushed.meta).toMatchObject({ push: { remote: 'origin', branch: `fix/readme-${mode}` } });
        expect(gitServer.git('acme/widgets', 'log', '-1', '--format=%s', `fix/readme-${mode}`)).toBe(
          'More readme',
        );
        // The server saw the token (Basic auth), from the proxy; every grant is gone afterwards.
        const authed = gitServer.requests.filter((r) => r.password === TOKEN);
        expect(authed.some((r) => r.service === 'git-receive-pack')).toBe(true);
        expect(proxy.activeGrants).toBe(0);

        const pulled = await run(git, { operation: 'pull', branch: 'main' }, fx.ctx);
        expect(pulled.isError, pulled.output).toBe(false);
      });

      it('without credentials the private repository refuses the clone', async () => {
        await fixture();
        const broker = createGitCredentialBroker({
          proxy,
          credentials: createGitHubCredentials({ apiUrl: 'http://127.0.0.1:9' }),
          gitBaseUrl: fx.config.githubGitUrl,
        });
        await expect(
          cloneRepository({
            config: fx.config,
            sandbox,
            repoUrl: repoUrl(),
            dest: '.',
            workspace: fx.workspace,
            env: fx.ctx.env,
            credentials: broker,
          }),
        ).rejects.toMatchObject({ code: 'clone_failed' });
      });
    },
  );
}

describe('the git credential proxy', () => {
  // Async git: the proxy serves from this very process.
  const exec = promisify(execFile);
  it('lets a push grant update only the granted ref, and only receive-pack', async () => {
    const work = await tempDir('proxy-push-');
    const env = {
      ...process.env,
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
    };
    const credentials = createGitHubCredentials({ token: TOKEN, apiUrl: 'http://127.0.0.1:9' });
    const auth = async () =>
      `Basic ${Buffer.from(`x-access-token:${(await credentials.tokenFor('acme/widgets'))!}`).toString('base64')}`;
    const fetchGrant = proxy.grant({
      upstream: repoUrl(),
      services: ['git-upload-pack'],
      label: 't',
      authorization: auth,
    });
    await exec('git', ['clone', '-q', fetchGrant.url, work], { env });
    fetchGrant.revoke();
    const g = (...a: string[]) =>
      exec('git', ['-C', work, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { env, encoding: 'utf8' });
    await g('commit', '-q', '--allow-empty', '-m', 'x');
    const push = proxy.grant({
      upstream: repoUrl(),
      services: ['git-receive-pack'],
      refs: ['refs/heads/allowed'],
      label: 't',
      authorization: auth,
    });
    const before = gitServer.git('acme/widgets', 'rev-parse', 'main');
    // main is not the granted ref: refused before anything reaches the repository.
    await expect(g('push', push.url, 'HEAD:refs/heads/main')).rejects.toThrow(/403|may update only/);
    expect(gitServer.git('acme/widgets', 'rev-parse', 'main')).toBe(before);
    // Two refs, one of them not granted: refused as a whole.
    await expect(g('push', push.url, 'HEAD:refs/heads/allowed', 'HEAD:refs/heads/other')).rejects.toThrow();
    expect(() => gitServer.git('acme/widgets', 'rev-parse', '--verify', 'refs/heads/other')).toThrow();
    await g('push', '-q', push.url, 'HEAD:refs/heads/allowed');
    expect(gitServer.git('acme/widgets', 'log', '-1', '--format=%s', 'allowed')).toBe('x');
    // A push grant does not serve fetches; a revoked grant serves nothing.
    await expect(g('fetch', push.url)).rejects.toThrow();
    push.revoke();
    await expect(g('push', push.url, 'HEAD:refs/heads/allowed')).rejects.toThrow(/404|unknown or expired/);
  });
});
