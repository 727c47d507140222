// A stdio MCP server (MCP_CONFIG `{"command", "args"?, "env"?}`) run INSIDE the sandbox, as an MCP
// client transport. One process per configured server, shared by every session (the Memory MCP
// must remember across sessions), confined like an agent's command:
//   - its own directory `DATA_DIR/mcp/<name>` is its workspace, cwd and HOME (its own sandbox uid
//     on a root server); it sees no session's workspace and nothing else of DATA_DIR;
//   - no network beyond what SANDBOX_NETWORK_ALLOW gives every sandboxed process;
//   - its env is the usual allowlist plus the `env` of its config entry (the operator's choice,
//     e.g. an API key of that server), never the server's own secrets.
// Consequence: what one session stores through it, another session can read (that is the point
// of a shared memory); the operator decides which servers to share this way.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { SandboxWrapper } from '../sandbox/types.ts';

export interface StdioServerSpec {
  command: string;
  args: string[];
  /** The operator's `env` from MCP_CONFIG (passed unfiltered). */
  env: Record<string, string>;
  /** DATA_DIR/mcp/<name>: the process's workspace, cwd and HOME. */
  dir: string;
  /** The allowlisted base env (PATH, LANG, …). */
  baseEnv: Record<string, string>;
}

/** Keeps the last lines of stderr: the reason a server would not start. */
class Tail {
  private lines: string[] = [];
  push(chunk: string): void {
    for (const l of chunk.split('\n')) if (l.trim()) this.lines.push(l.slice(0, 300));
    if (this.lines.length > 10) this.lines = this.lines.slice(-10);
  }
  toString(): string {
    return this.lines.join('\n');
  }
}

export class SandboxedStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private child?: ChildProcessWithoutNullStreams;
  private readonly buffer = new ReadBuffer();
  private readonly stderr = new Tail();
  private closed = false;
  /** Resolves when the process is gone (closed, or it never started). */
  private done: Promise<void> = Promise.resolve();
  /** How the process ended (for the status), once it has. */
  exit?: string;

  private readonly spec: StdioServerSpec;
  private readonly sandbox: SandboxWrapper;

  constructor(spec: StdioServerSpec, sandbox: SandboxWrapper) {
    this.spec = spec;
    this.sandbox = sandbox;
  }

  /** The last stderr lines and the exit status: why the server is not there. */
  get diagnostics(): string {
    return [this.exit, this.stderr.toString()].filter(Boolean).join(': ');
  }

  async start(): Promise<void> {
    const s = this.spec;
    const wrapped = this.sandbox.wrap({
      command: s.command,
      args: s.args,
      cwd: s.dir,
      workspace: s.dir,
      env: { ...s.baseEnv, HOME: s.dir, TMPDIR: '/tmp' },
      operatorEnv: s.env,
    });
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(wrapped.command, wrapped.args, {
        cwd: wrapped.cwd,
        env: wrapped.env,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (err) {
      wrapped.release?.();
      throw err;
    }
    this.child = child;
    this.done = new Promise<void>((resolve) => {
      child.once('close', () => resolve());
      child.once('error', () => resolve());
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err) => {
        this.closed = true;
        wrapped.release?.();
        reject(err);
      });
    });
    child.stdout.on('data', (d: Buffer) => {
      this.buffer.append(d);
      for (;;) {
        let msg: JSONRPCMessage | null;
        try {
          msg = this.buffer.readMessage();
        } catch (err) {
          this.onerror?.(err as Error);
          continue;
        }
        if (!msg) break;
        this.onmessage?.(msg);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => this.stderr.push(d));
    child.stdin.on('error', (err) => this.onerror?.(err));
    child.on('exit', (code, signal) => {
      this.exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
    });
    child.on('close', () => {
      wrapped.release?.();
      // Whatever is left of its sandbox goes with it (bwrap's PID namespace does the rest).
      if (child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      this.closed = true;
      this.onclose?.();
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const child = this.child;
    if (!child || this.closed || !child.stdin.writable)
      throw new Error('the MCP server process is not running');
    await new Promise<void>((resolve, reject) => {
      child.stdin.write(serializeMessage(message), (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child || this.closed) return;
    child.stdin.end();
    try {
      child.kill('SIGTERM');
    } catch {
      // gone
    }
    // A server that ignores SIGTERM is killed with its whole process group.
    const timer = setTimeout(() => {
      if (child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }, 2000);
    await this.done;
    clearTimeout(timer);
  }

  /** The process id (tests kill it to see the restart). */
  get pid(): number | undefined {
    return this.child?.pid;
  }
}
