// Fixture for the adversarial tests: the REAL tools (createTools) on the REAL bubblewrap sandbox
// with small limits, a temp DATA_DIR holding secrets next to the workspace (a fake database, an
// audit log, another session's workspace), and fake secrets in the server's own environment.
import { execFileSync } from 'node:child_process';
import { promises as fsp, mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Config, loadConfig } from '../../src/config.ts';
import { type BwrapSandbox, createBwrapSandbox } from '../../src/sandbox/bwrap/bwrap.ts';
import type { Limits } from '../../src/sandbox/bwrap/limits.ts';
import { buildChildEnv } from '../../src/sandbox/child-env.ts';
import { WorkspaceManager } from '../../src/sandbox/workspace/manager.ts';
import { createTools } from '../../src/tools/index.ts';
import type { Tool, ToolContext, ToolResult } from '../../src/tools/types.ts';
// A skipped security test proves nothing: without bubblewrap every suite using this fixture fails
// unless SKIP_SANDBOX_TESTS=1 says the skip is on purpose (the check is in ../helpers/bwrap.ts).
import '../helpers/bwrap.ts';

export const SERVER_DIR = path.resolve(import.meta.dirname, '..', '..');

/** Fake secrets: the server's env holds them; no sandboxed process may ever see one. */
export const FAKE_SECRETS: Record<string, string> = {
  ANTHROPIC_API_KEY: 'sk-ant-FAKESECRET-anthropic-0001',
  API_KEYS: 'FAKESECRET-apikey-0002',
  SIGNING_SECRET: 'FAKESECRET-signing-0003',
  GITHUB_TOKEN: 'ghp_FAKESECRETgithub0004',
  MCP_AUTH_TOKEN: 'FAKESECRET-mcp-0005',
  DATABASE_URL: 'postgres://agent:FAKESECRET-db-0006@db.internal/agent',
  REDIS_URL: 'redis://:FAKESECRET-redis-0007@cache.internal:6379',
};
export const SECRET_MARK = 'FAKESECRET';

/** Small limits so that the resource attacks end fast and the machine stays responsive. */
export const TEST_LIMITS: Partial<Limits> = {
  maxProcesses: 128,
  memoryBytes: 512 * 1024 ** 2,
  fileSizeBytes: 64 * 1024 ** 2,
  tmpBytes: 64 * 1024 ** 2,
  cpuSeconds: 60,
  openFiles: 1024,
};

export interface SecFixture {
  tmp: string;
  outside: string;
  config: Config;
  sandbox: BwrapSandbox;
  tools: Map<string, Tool>;
  workspace: string;
  other: string;
  ctx: ToolContext;
  /** Bytes streamed through onOutput (not stored: floods would fill the test's memory). */
  streamed: { bytes: number };
  bash(command: string, timeout?: number): Promise<ToolResult>;
  fs(input: Record<string, unknown>): Promise<ToolResult>;
  git(input: Record<string, unknown>): Promise<ToolResult>;
  cleanup(): Promise<void>;
}

export async function makeSecFixture(
  env: Record<string, string> = {},
  opts: { lookup?: (host: string) => Promise<string[]> } = {},
): Promise<SecFixture> {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(FAKE_SECRETS)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'sec-data-')));
  const outside = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'sec-outside-')));
  const config = loadConfig({
    ...FAKE_SECRETS,
    DATA_DIR: tmp,
    SANDBOX: 'bwrap',
    ALLOW_FILE_REPOS: 'true',
    TOOL_OUTPUT_LIMIT: '4000',
    ...env,
  });
  const sandbox = createBwrapSandbox({
    config,
    dataDir: tmp,
    limits: TEST_LIMITS,
    ...(opts.lookup ? { lookup: opts.lookup } : {}),
  });
  await sandbox.ready();
  const wm = new WorkspaceManager(tmp, { identities: sandbox.identities });
  const workspace = await wm.ensure('victim');
  const other = await wm.ensure('other');
  const home = await wm.homeFor('victim');
  // What lives next to the workspace on a real server.
  writeFileSync(path.join(tmp, 'agent.db'), 'TOPSECRET-database-row');
  mkdirSync(path.join(tmp, 'audit'), { recursive: true });
  writeFileSync(path.join(tmp, 'audit', 'audit.log'), 'TOPSECRET-audit-line');
  writeFileSync(path.join(other, 'secret.txt'), 'TOPSECRET-other-session');
  writeFileSync(path.join(outside, 'outside.txt'), 'TOPSECRET-outside-file');

  const tools = new Map(createTools({ config, sandbox }).map((t) => [t.name, t]));
  const streamed = { bytes: 0 };
  const ctx: ToolContext = {
    workspace,
    runId: 'r1',
    sessionId: 'victim',
    signal: new AbortController().signal,
    onOutput: (_s, chunk) => {
      streamed.bytes += chunk.length;
    },
    // As if an upstream bug leaked secrets into the child env: the sandbox must still strip them.
    env: {
      ...buildChildEnv(config, { home, workspace }),
      ...FAKE_SECRETS,
      LEAKY_COPY: `x${FAKE_SECRETS.ANTHROPIC_API_KEY}`,
    },
  };
  const call = async (name: string, input: unknown): Promise<ToolResult> => {
    const tool = tools.get(name);
    if (!tool) throw new Error(`no tool ${name}`);
    return tool.execute(tool.input.parse(input), ctx);
  };
  return {
    tmp,
    outside,
    config,
    sandbox,
    tools,
    workspace,
    other,
    ctx,
    streamed,
    bash: (command, timeout = 10_000) => call('bash', { command, timeout }),
    fs: (input) => call('fs', input),
    git: (input) => call('git', input),
    async cleanup() {
      await sandbox.close();
      await fsp.rm(tmp, { recursive: true, force: true });
      await fsp.rm(outside, { recursive: true, force: true });
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}

/** Host processes whose command line contains `marker` (seen from OUTSIDE every namespace). */
export function hostProcesses(marker: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', marker], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.includes('pgrep'));
  } catch {
    return [];
  }
}

export function uniqueMarker(): string {
  // A number `sleep` accepts and nothing else on the machine matches.
  return `7${Math.floor(Math.random() * 1e6)}.${process.pid}${Math.floor(Math.random() * 1000)}`;
}

/**
 * git run by the TEST on the host (fixtures, witnesses), isolated from the machine's git config.
 * Local file transport allowed, and every directory safe: on a root server the repositories the
 * sandbox made belong to the session's own uid.
 */
export function hostGit(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'protocol.file.allow=always', '-c', 'safe.directory=*', ...args], {
    cwd,
    encoding: 'utf8',
    env: {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@e',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@e',
    },
  }).trim();
}
