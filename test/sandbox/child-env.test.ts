import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { buildChildEnv } from '../../src/sandbox/child-env.ts';
import { runProcess } from '../../src/sandbox/process-runner.ts';
import { noSandbox } from '../../src/sandbox/types.ts';

const SECRETS = {
  ANTHROPIC_API_KEY: 'sk-ant-secret-1',
  API_KEYS: 'key-secret-2',
  SIGNING_SECRET: 'sign-secret-3',
  GITHUB_TOKEN: 'ghp_secret4',
  MCP_AUTH_TOKEN: 'mcp-secret-5',
  DATABASE_URL: 'postgres://u:secret6@db/x',
  AWS_SECRET_ACCESS_KEY: 'aws-secret-7',
};

describe('buildChildEnv', () => {
  it('is an allowlist with git identity and safety settings', () => {
    const config = loadConfig({
      DATA_DIR: '/tmp/x',
      GIT_AUTHOR_NAME: 'Bot',
      GIT_AUTHOR_EMAIL: 'bot@example.com',
    });
    const env = buildChildEnv(config, { home: '/data/homes/s1', workspace: '/data/workspaces/s1' });
    expect(env).toMatchObject({
      HOME: '/data/homes/s1',
      TMPDIR: '/data/homes/s1/tmp',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      TERM: 'dumb',
      NO_COLOR: '1',
      CI: '1',
      GIT_AUTHOR_NAME: 'Bot',
      GIT_AUTHOR_EMAIL: 'bot@example.com',
      GIT_COMMITTER_NAME: 'Bot',
      GIT_COMMITTER_EMAIL: 'bot@example.com',
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_CEILING_DIRECTORIES: '/data/workspaces',
    });
    expect(env.PATH).toContain('/usr/bin');
  });

  it('leaks no server secret to a child process, even when process.env has them', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, SECRETS);
    try {
      const config = loadConfig({ ...process.env, DATA_DIR: '/tmp/x' });
      const env = buildChildEnv(config, { home: '/tmp' });
      const dump = JSON.stringify(env);
      for (const [k, v] of Object.entries(SECRETS)) {
        expect(env[k]).toBeUndefined();
        expect(dump).not.toContain(v);
      }
      const res = await runProcess(
        { command: 'env', args: [], cwd: '/tmp', workspace: '/tmp', env },
        { sandbox: noSandbox, timeoutMs: 10_000, outputLimit: 100_000 },
      );
      expect(res.exitCode).toBe(0);
      for (const v of Object.values(SECRETS)) expect(res.output).not.toContain(v);
    } finally {
      for (const k of Object.keys(SECRETS)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});
