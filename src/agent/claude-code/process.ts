// The Claude Code CLI process: its environment, its stderr (to the logger, line by line) and,
// when an OS sandbox is configured, how it is started inside it.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';
import type { SpawnedProcess, SpawnOptions } from '@anthropic-ai/claude-agent-sdk';
import type { SandboxWrapper } from '../../sandbox/types.ts';
import { commandShims } from '../../tools/command-shims.ts';

/**
 * Variables that switch off Claude Code's traffic and state outside the run: telemetry, error
 * reporting, update checks, the connectivity probe and title requests (NONESSENTIAL_TRAFFIC),
 * auto-memory files, CLAUDE.md loading, background tasks and cron (which could outlive the run).
 *
 * Not set: CLAUDE_CODE_SUBPROCESS_ENV_SCRUB (it would keep ANTHROPIC_API_KEY out of Bash commands'
 * env) makes Claude Code require its own sandbox (bubblewrap + socat) and refuse every Bash call
 * without it. The model's commands can therefore read the CLI's key: use `llmAccess` with a
 * per-run, revocable token in production.
 */
export const CLI_QUIET_ENV: Readonly<Record<string, string>> = {
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_TELEMETRY: '1',
  DISABLE_ERROR_REPORTING: '1',
  DISABLE_AUTOUPDATER: '1',
  CLAUDE_CODE_DISABLE_AUTO_MEMORY: '1',
  CLAUDE_CODE_DISABLE_CLAUDE_MDS: '1',
  CLAUDE_CODE_DISABLE_BACKGROUND_TASKS: '1',
  CLAUDE_CODE_DISABLE_CRON: '1',
  CLAUDE_AGENT_SDK_CLIENT_APP: 'duyetbot-agent-server',
};

/** Never taken from the run's env: the engine sets the LLM endpoint/credentials and config dir itself. */
const RESERVED = /^(ANTHROPIC_|CLAUDE_|CLAUDECODE$)/;

export interface LlmEndpoint {
  baseUrl: string;
  apiKey: string;
  /** The run's model: every model choice of the CLI is pinned to it (the LLM proxy refuses others). */
  model?: string;
}

/** The CLI's whole environment (the SDK's `env` replaces the inherited one). */
export function buildCliEnv(
  runEnv: Record<string, string>,
  llm: LlmEndpoint,
  configDir: string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(runEnv)) {
    if (typeof v === 'string' && !RESERVED.test(k)) env[k] = v;
  }
  return {
    ...env,
    ...CLI_QUIET_ENV,
    ...llmEnv(llm, configDir),
  };
}

/**
 * Every model choice Claude Code (2.1.330) makes besides the main one, set to the run's model: the
 * aliases agents and skills name (opus, sonnet, haiku, fable), the small/fast background model,
 * subagents (FORCE: also when an agent definition or the Agent tool names another model) and
 * workflow agents. LEGACY_MODEL_REMAP off: it would swap claude-opus-4-0/4-1 for a newer model;
 * NO_MODEL_FALLBACK: no retry on another model when this one is overloaded.
 */
function modelEnv(model: string): Record<string, string> {
  return {
    ANTHROPIC_MODEL: model,
    ANTHROPIC_DEFAULT_OPUS_MODEL: model,
    ANTHROPIC_DEFAULT_SONNET_MODEL: model,
    ANTHROPIC_DEFAULT_HAIKU_MODEL: model,
    ANTHROPIC_DEFAULT_FABLE_MODEL: model,
    ANTHROPIC_SMALL_FAST_MODEL: model,
    CLAUDE_CODE_SUBAGENT_MODEL: model,
    CLAUDE_CODE_SUBAGENT_MODEL_FORCE: '1',
    CLAUDE_CODE_WORKFLOW_SUBAGENT_MODEL: model,
    CLAUDE_CODE_DISABLE_LEGACY_MODEL_REMAP: '1',
    CLAUDE_CODE_NO_MODEL_FALLBACK: '1',
  };
}

/** The variables the CLI itself needs, re-applied after a sandbox wrapper filtered the env. */
export function llmEnv(llm: LlmEndpoint, configDir: string): Record<string, string> {
  return {
    ANTHROPIC_BASE_URL: llm.baseUrl.replace(/\/+$/, ''),
    ANTHROPIC_API_KEY: llm.apiKey,
    CLAUDE_CONFIG_DIR: configDir,
    // Claude Code's scratch files (tool notes, shell snapshots) per session instead of /tmp/claude-<uid>
    CLAUDE_CODE_TMPDIR: path.join(configDir, 'tmp'),
    ...(llm.model ? modelEnv(llm.model) : {}),
  };
}

/** The names llmEnv may set (re-applied after the sandbox wrapper filtered the env). */
const LLM_ENV_KEYS: readonly string[] = Object.keys(llmEnv({ baseUrl: 'x', apiKey: 'x', model: 'x' }, '/'));

/** Splits a byte stream into lines; `flush` emits a trailing partial line. */
export function lineSplitter(onLine: (line: string) => void): { push(chunk: string): void; flush(): void } {
  let buf = '';
  const MAX = 16_384;
  return {
    push(chunk) {
      buf += chunk;
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        if (line.trim() !== '') onLine(line);
        i = buf.indexOf('\n');
      }
      if (buf.length > MAX) {
        onLine(buf);
        buf = '';
      }
    },
    flush() {
      if (buf.trim() !== '') onLine(buf);
      buf = '';
    },
  };
}

/** Keeps the last `n` lines (for error messages when the CLI dies without a result). */
export class TailLines {
  private readonly n: number;
  private readonly lines: string[] = [];
  constructor(n: number) {
    this.n = n;
  }
  push(line: string): void {
    this.lines.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
    if (this.lines.length > this.n) this.lines.shift();
  }
  toString(): string {
    return this.lines.join('\n');
  }
}

export interface CliSpawnOptions {
  /** Wraps the command when given and not 'none'. */
  sandbox?: SandboxWrapper;
  workspace: string;
  /** Re-applied after wrapping: the CLI needs its LLM credentials and config dir. */
  cliEnv: Record<string, string>;
  /** Receives the CLI's stderr (the SDK does not read a custom process's stderr). */
  onStderr: (chunk: string) => void;
  /** Called with the started process (pid for metrics/tests). */
  onSpawn?: (pid: number | undefined) => void;
}

export interface CliSpawner {
  /** For the SDK's `spawnClaudeCodeProcess`. */
  spawn(opts: SpawnOptions): SpawnedProcess;
  /** The running CLI's pid, if started. */
  pid(): number | undefined;
  /** Signals the CLI at once (the SDK's own abort waits for a graceful exit first). */
  terminate(signal?: NodeJS.Signals): void;
  /**
   * Resolves once the CLI has exited (SIGTERM → SIGKILL after `graceMs`); then kills whatever is
   * left in its process group (commands it started and did not reap).
   */
  reap(graceMs: number): Promise<void>;
}

/** `sh -c` program: create the CLI's config and scratch dirs, then become the CLI. */
const MKDIR_THEN_EXEC =
  'mkdir -p -- "$CLAUDE_CONFIG_DIR" && { [ -z "$CLAUDE_CODE_TMPDIR" ] || mkdir -p -- "$CLAUDE_CODE_TMPDIR"; } && exec "$@"';

function definedEnv(env: SpawnOptions['env']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string') out[k] = v;
  return out;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone already
  }
}

/**
 * Starts the CLI itself (instead of the SDK's default spawn) so the engine owns the process:
 * its own process group (cleaned up as a whole when the run ends), stderr to the logger, and,
 * with a sandbox, the command wrapped by `sandbox.wrap` (network on: the CLI must reach the LLM).
 * A sandbox filters secret-looking variables out of the env, so the CLI's own ANTHROPIC_* and
 * CLAUDE_CONFIG_DIR are put back after wrapping.
 */
export function cliSpawner(o: CliSpawnOptions): CliSpawner {
  let child: ChildProcessWithoutNullStreams | undefined;
  let exited: Promise<void> = Promise.resolve();
  return {
    spawn(opts) {
      const env = definedEnv(opts.env);
      const cwd = opts.cwd ?? o.workspace;
      let cmd = { command: opts.command, args: opts.args, env, cwd };
      let release: (() => void) | undefined;
      if (o.sandbox && o.sandbox.kind !== 'none') {
        // The CLI binary lives in the server's node_modules, which the sandbox hides: bind just its folder, read-only.
        const hostPaths = path.isAbsolute(cmd.command) ? [{ path: path.dirname(cmd.command) }] : [];
        // Network only for the LLM proxy and the allowlisted hosts: the commands the CLI runs for the
        // model get no more network than the native engine's bash ('tools' egress).
        // The CLI's config dir lives in the session home, which the agent can write: it is created
        // here, inside the sandbox as the sandbox's user, never by the server (a symlink planted
        // in the home would otherwise be followed with the server's authority).
        const wrapped = o.sandbox.wrap({
          ...cmd,
          command: '/bin/sh',
          args: ['-c', MKDIR_THEN_EXEC, 'claude-code', cmd.command, ...cmd.args],
          workspace: o.workspace,
          network: true,
          egress: 'tools',
          hostPaths,
          // Its Bash: `git push`/`gh` name mcp__server__git/gh instead of failing on the proxy.
          files: commandShims('claude-code'),
        });
        const keep: Record<string, string> = {};
        for (const k of LLM_ENV_KEYS) {
          const v = o.cliEnv[k];
          if (v !== undefined) keep[k] = v;
        }
        cmd = { ...wrapped, env: { ...wrapped.env, ...keep } };
        release = wrapped.release;
      }
      let c: ChildProcessWithoutNullStreams;
      try {
        c = spawn(cmd.command, cmd.args, {
          cwd: cmd.cwd,
          env: cmd.env,
          stdio: ['pipe', 'pipe', 'pipe'],
          detached: true,
          signal: opts.signal,
        });
      } catch (err) {
        release?.();
        throw err;
      }
      child = c;
      exited = new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) resolve();
        c.once('exit', () => resolve());
        c.once('error', () => resolve());
      });
      // The sandbox's per-session egress gate is held while the CLI lives.
      void exited.then(() => release?.());
      c.stderr.setEncoding('utf8');
      c.stderr.on('data', (d: string) => o.onStderr(d));
      c.on('error', () => {}); // reported to the SDK through its own 'error' listener
      o.onSpawn?.(c.pid);
      return c;
    },
    pid: () => child?.pid,
    terminate(signal = 'SIGTERM') {
      if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    async reap(graceMs) {
      const c = child;
      if (!c) return;
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), graceMs);
        });
        const r = await Promise.race([exited.then(() => 'exited' as const), timeout]);
        clearTimeout(timer);
        if (r === 'timeout' && c.pid !== undefined) {
          killGroup(c.pid, 'SIGKILL');
          await exited;
        }
      }
      if (c.pid !== undefined) killGroup(c.pid, 'SIGKILL');
    },
  };
}
