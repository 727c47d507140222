// How a child process is started. The process runner spawns what a `SandboxWrapper` returns, so
// the bubblewrap sandbox (or none, when explicitly configured) plugs in without touching tools.
import type { SandboxUsage } from './usage.ts';

export interface ProcessSpec {
  command: string;
  args: string[];
  /** Absolute working directory (inside the workspace). */
  cwd: string;
  /** Absolute workspace root; the only writable tree a sandboxed process sees. */
  workspace: string;
  env: Record<string, string>;
  /** Network allowed for this process (e.g. git clone/push); tools' default is off. */
  network?: boolean;
  /**
   * Which egress policy a network-enabled process gets. `git` (default): the hosts of
   * SANDBOX_NETWORK_ALLOW, or any public host when it is empty (clone/fetch/push). `tools`: the
   * hosts of SANDBOX_NETWORK_ALLOW only — nothing when it is empty — plus the host loopback ports
   * registered for the sandbox (the LLM proxy). For a process that runs the model's commands
   * itself (the Claude Code CLI), so they get no more network than the native engine's bash.
   */
  egress?: 'git' | 'tools';
  /**
   * Host paths outside the workspace this process needs, e.g. a local `file://` remote when
   * ALLOW_FILE_REPOS=true (read-only for clone/fetch, writable for push). The bwrap sandbox binds
   * each at its own path unless it would expose the data dir, the server, /root, /home or a
   * system directory; noSandbox ignores the field.
   */
  hostPaths?: Array<{ path: string; writable?: boolean }>;
  /**
   * Small read-only files the server writes for this process, bound at `dest` (which must be under
   * /run/duyetbot/), e.g. a git config that marks a local remote owned by another uid as safe.
   * noSandbox ignores them.
   */
  files?: Array<{ dest: string; content: string; executable?: boolean }>;
  /**
   * Variables the operator configured for this process (a stdio MCP server's `env` in MCP_CONFIG):
   * passed as they are, after `env` was filtered for secret-looking names, because an MCP server's
   * own API key is the operator's explicit choice. Never the agent's or a tool's input.
   */
  operatorEnv?: Record<string, string>;
}

export interface WrappedCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /**
   * Frees what the sandbox holds for this process (its session's egress gate). The spawner calls
   * it once the process has exited (or failed to start).
   */
  release?: () => void;
}

export interface SandboxWrapper {
  readonly kind: 'bwrap' | 'none';
  wrap(spec: ProcessSpec): WrappedCommand;
  /** Resource use of the process trees of each workspace, from their cgroups (when there are any). */
  readonly usage?: { take(workspace: string): SandboxUsage | undefined };
}

/** No confinement beyond the path guard and process-group kill: only when explicitly configured. */
export const noSandbox: SandboxWrapper = {
  kind: 'none',
  wrap: (spec) => ({
    command: spec.command,
    args: spec.args,
    env: { ...spec.env, ...spec.operatorEnv },
    cwd: spec.cwd,
  }),
};
