// The environment of every process the agent starts. Built from an allowlist, never copied from
// the server's own env: that holds API keys, signing secrets, tokens and database URLs.
import path from 'node:path';
import type { Config } from '../config.ts';

export interface ChildEnvOptions {
  /** Per-session home directory, outside the workspace tree (see WorkspaceManager.homeFor). */
  home: string;
  /** Temp directory; defaults to `<home>/tmp`. */
  tmpDir?: string;
  /** When given, git repository discovery stops at this workspace instead of climbing above it. */
  workspace?: string;
}

const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** A fixed system PATH plus the directory of the running node, so `node`/`npm` work for the agent. */
function defaultPath(): string {
  const dirs = [...SYSTEM_PATH];
  const nodeDir = path.dirname(process.execPath);
  if (!dirs.includes(nodeDir)) dirs.push(nodeDir);
  return dirs.join(':');
}

export function buildChildEnv(
  config: Pick<Config, 'gitAuthorName' | 'gitAuthorEmail'>,
  opts: ChildEnvOptions,
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: defaultPath(),
    HOME: opts.home,
    TMPDIR: opts.tmpDir ?? path.join(opts.home, 'tmp'),
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TERM: 'dumb',
    SHELL: '/bin/bash',
    NO_COLOR: '1',
    CI: '1',
    GIT_AUTHOR_NAME: config.gitAuthorName,
    GIT_AUTHOR_EMAIL: config.gitAuthorEmail,
    GIT_COMMITTER_NAME: config.gitAuthorName,
    GIT_COMMITTER_EMAIL: config.gitAuthorEmail,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
  };
  if (opts.workspace) env.GIT_CEILING_DIRECTORIES = path.dirname(opts.workspace);
  return env;
}
