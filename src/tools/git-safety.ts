// Rules for running git on untrusted repositories (a clone's content, or a .git/config the agent
// edited with bash). Every git command the server runs goes through gitArgs + gitEnv, and every
// command in an existing repository is preceded by assertSafeRepoConfig.
//
// Two layers: `-c` overrides for single-valued keys (command-line config wins over the repo's),
// and refusal for keys that name commands but cannot be overridden that way (driver subsections
// selected by .gitattributes, multi-valued first-match keys, includes).
import type { Config } from '../config.ts';
import { runProcess } from '../sandbox/process-runner.ts';
import { noSandbox, type SandboxWrapper } from '../sandbox/types.ts';
import { ToolError } from './types.ts';

type GitConfig = Pick<Config, 'allowFileRepos' | 'gitAuthorName' | 'gitAuthorEmail'>;

/**
 * Overrides checked against git-config(1) for git 2.39. Deliberately absent:
 * - `diff.external=` (empty): git then tries to run "" and every diff fails; commands that diff
 *   pass --no-ext-diff/--no-textconv instead, and a local diff.external is refused.
 * - `uploadpack.packObjectsHook`: honoured only from protected (system/global/command) config,
 *   which GIT_CONFIG_NOSYSTEM + GIT_CONFIG_GLOBAL=/dev/null already empty.
 */
export function safeConfigArgs(config: Pick<Config, 'allowFileRepos'>, opts: GitProcessKind = {}): string[] {
  const pairs: Array<[string, string]> = [
    ['core.hooksPath', '/dev/null'],
    ['core.fsmonitor', 'false'],
    ['core.sshCommand', 'ssh -o BatchMode=yes'],
    // The argument syntax git uses for that command (a repository could claim putty/tortoiseplink).
    ['ssh.variant', 'ssh'],
    ['core.pager', 'cat'],
    ['pager.log', 'false'],
    ['core.editor', 'true'],
    ['sequence.editor', 'true'],
    ['core.askPass', ''],
    // An empty value clears every helper collected so far, including URL-specific ones.
    ['credential.helper', ''],
    ['protocol.allow', 'never'],
    ['protocol.https.allow', 'always'],
    ['protocol.ssh.allow', 'always'],
    // Named as well as covered by protocol.allow: a local protocol.<name>.allow beats the default,
    // not the same key given here.
    ['protocol.ext.allow', 'never'],
    ['protocol.fd.allow', 'never'],
    ['protocol.git.allow', 'never'],
    // Plain http only to the server's git credential proxy on loopback (git-credentials.ts).
    ['protocol.http.allow', opts.proxied ? 'always' : 'never'],
    // A process with network (and maybe the push credential in its env) never uses the local
    // transport, which would run another repository's hooks in it: a remote URL switched to a local
    // path after the checks (a parallel bash) fails instead.
    ['protocol.file.allow', config.allowFileRepos && !opts.network ? 'always' : 'never'],
    ['submodule.recurse', 'false'],
    ['fetch.recurseSubmodules', 'false'],
    // A recursive push runs git in each submodule, whose own config nobody checked (and with the
    // push credential in its env).
    ['push.recurseSubmodules', 'no'],
    ['commit.gpgSign', 'false'],
    ['tag.gpgSign', 'false'],
    ['push.gpgSign', 'false'],
    ['log.showSignature', 'false'],
    ['core.quotePath', 'false'],
    ['color.ui', 'false'],
    ['advice.detachedHead', 'false'],
    // No background gc/maintenance started by our commands (work the run did not ask for).
    ['gc.auto', '0'],
    ['maintenance.auto', 'false'],
  ];
  return pairs.flatMap(([k, v]) => ['-c', `${k}=${v}`]);
}

export interface GitProcessKind {
  /** The process gets network access (clone/fetch/push to a network remote). */
  network?: boolean;
  /** Its remote is the server's git credential proxy (http on loopback). */
  proxied?: boolean;
}

/** `git --no-pager -c … <extraArgs>`: the argv for one git command (without the `git`). */
export function gitArgs(
  config: Pick<Config, 'allowFileRepos'>,
  extraArgs: string[],
  opts: GitProcessKind = {},
): string[] {
  return ['--no-pager', ...safeConfigArgs(config, opts), ...extraArgs];
}

// Names an inherited env might carry that change what git runs or where it looks.
const KEEP_GIT_VARS = new Set(['GIT_CEILING_DIRECTORIES']);

/** Child env for git: `base` (already allowlisted) minus any GIT_* steering, plus the safe settings. */
export function gitEnv(config: GitConfig, base: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    if (k.startsWith('GIT_') && !KEEP_GIT_VARS.has(k)) continue;
    if (k === 'SSH_ASKPASS' || k === 'SSH_AUTH_SOCK' || k === 'EDITOR' || k === 'VISUAL' || k === 'PAGER')
      continue;
    env[k] = v;
  }
  return {
    ...env,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: config.gitAuthorName,
    GIT_AUTHOR_EMAIL: config.gitAuthorEmail,
    GIT_COMMITTER_NAME: config.gitAuthorName,
    GIT_COMMITTER_EMAIL: config.gitAuthorEmail,
  };
}

/**
 * Keys that can run a command (or leak a pushed token) and that `-c` cannot neutralise.
 * Matched against lower-cased `section[.subsection].name`; the subsection is arbitrary.
 */
const UNSAFE_KEYS: Array<{ re: RegExp; why: string }> = [
  { re: /^filter\..+\.(clean|smudge|process)$/, why: 'filter drivers run commands' },
  { re: /^diff\..+\.(textconv|command)$/, why: 'diff drivers run commands' },
  { re: /^diff\.external$/, why: 'an external diff runs a command' },
  { re: /^merge\..+\.driver$/, why: 'merge drivers run commands' },
  { re: /^include\.path$/, why: 'includes pull in config this check cannot see' },
  { re: /^includeif\..+\.path$/, why: 'includes pull in config this check cannot see' },
  { re: /^core\.gitproxy$/, why: 'multi-valued proxy command (first match wins)' },
  { re: /^core\.alternaterefscommand$/, why: 'runs a command' },
  { re: /^core\.worktree$/, why: 'can point the work tree outside the workspace' },
  {
    re: /^remote\..+\.(uploadpack|receivepack|vcs)$/,
    why: 'runs a command for local transports / remote helpers',
  },
  { re: /^remote\..+\.(proxy|proxyauthmethod)$/, why: "sends the remote's traffic through a proxy" },
  // protocol.<name>.allow beats our protocol.allow=never for every name we do not override.
  { re: /^protocol\..+\.allow$/, why: 'enables transports (remote helpers) the server disallows' },
  { re: /^trailer\..+\.(command|cmd)$/, why: 'runs a command' },
  { re: /^gpg\.(.+\.)?program$/, why: 'runs a command' },
  { re: /^gpg\.ssh\.defaultkeycommand$/, why: 'runs a command' },
  // A pushed token travels in an http header: no proxies or TLS changes chosen by the repository.
  {
    re: /^http\.(.+\.)?(proxy[a-z]*|ssl[a-z]*|pinnedpubkey|curloptresolve|extraheader|emptyauth|cookiefile|savecookies|delegation)$/,
    why: 'changes where or how credentials are sent',
  },
];

export interface ConfigEntry {
  scope: string;
  key: string;
  value: string;
}

/** Parses `git config --list --show-scope -z` output: `scope\0key\nvalue\0`. */
export function parseConfigList(raw: string): ConfigEntry[] {
  const fields = raw.split('\0');
  const out: ConfigEntry[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const scope = fields[i] ?? '';
    const kv = fields[i + 1] ?? '';
    const nl = kv.indexOf('\n');
    out.push({ scope, key: nl === -1 ? kv : kv.slice(0, nl), value: nl === -1 ? '' : kv.slice(nl + 1) });
  }
  return out;
}

/** Returns the offending entries (empty when the repository config is acceptable). */
export function findUnsafeConfig(entries: ConfigEntry[]): Array<ConfigEntry & { why: string }> {
  const bad: Array<ConfigEntry & { why: string }> = [];
  for (const e of entries) {
    if (e.scope === 'command') continue; // our own -c flags
    const key = e.key.toLowerCase();
    const hit = UNSAFE_KEYS.find((u) => u.re.test(key));
    if (hit) bad.push({ ...e, why: hit.why });
  }
  return bad;
}

export interface SafeRepoOptions {
  config: GitConfig;
  sandbox?: SandboxWrapper;
  /** Workspace root the process is confined to. */
  workspace: string;
  env: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Reads the repository's effective config (every scope: local, worktree, and anything a
 * future git adds) and throws ToolError('unsafe_repo_config') when it names commands.
 */
export async function assertSafeRepoConfig(repoDir: string, opts: SafeRepoOptions): Promise<void> {
  const res = await runProcess(
    {
      command: 'git',
      args: gitArgs(opts.config, ['config', '--list', '--show-scope', '-z']),
      cwd: repoDir,
      workspace: opts.workspace,
      env: gitEnv(opts.config, opts.env),
    },
    { sandbox: opts.sandbox ?? noSandbox, timeoutMs: 30_000, outputLimit: 1_000_000, signal: opts.signal },
  );
  if (res.exitCode !== 0 || res.truncated) {
    throw new ToolError(
      'unsafe_repo_config',
      `Could not read the repository's git config: ${res.output.trim()}`,
    );
  }
  const bad = findUnsafeConfig(parseConfigList(res.output));
  if (bad.length > 0) {
    const list = bad.map((b) => `${b.key} (${b.scope}: ${b.why})`).join(', ');
    throw new ToolError(
      'unsafe_repo_config',
      `Refusing to run git: the repository config sets ${list}. Remove these settings (e.g. \`git config --unset <key>\`) and retry.`,
    );
  }
}
