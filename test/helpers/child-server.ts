// Starts the real server as a CHILD PROCESS (`node src/main.ts`), so tests can crash it (SIGKILL),
// drain it (SIGTERM) and restart it on the same DATA_DIR. stdout/stderr are captured for debugging.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkOutput } from './log-check.ts';
import { freePort, pollUntil } from './net.ts';
import { tempDir } from './server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ChildServer {
  url: string;
  port: number;
  dataDir: string;
  env: Record<string, string>;
  /** Everything the current and earlier processes wrote (for failure messages). */
  output(): string;
  /** Sends a signal and waits for the process to exit; resolves with its exit code (null when killed). */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts a new process on the same DATA_DIR and port (after kill()); waits for /health. */
  restart(extraEnv?: Record<string, string>): Promise<void>;
  readonly pid: number | undefined;
  /** Stops the process if still running (SIGTERM, then SIGKILL after 5 s). */
  close(): Promise<void>;
}

export interface ChildServerOptions {
  env?: Record<string, string | undefined>;
  dataDir?: string;
  startTimeoutMs?: number;
}

function nodeBin(): string {
  return process.execPath;
}

export async function startChildServer(opts: ChildServerOptions = {}): Promise<ChildServer> {
  const dataDir = opts.dataDir ?? (await tempDir('agent-child-'));
  const port = await freePort();
  const env: Record<string, string> = {};
  const base: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ALLOW_FILE_REPOS: 'true',
    SANDBOX: 'none',
    AGENT_ENGINE: 'native',
    ANTHROPIC_API_KEY: 'test-key',
    RUN_LEASE_MS: '2000',
    LOG_LEVEL: 'warn',
    SHUTDOWN_GRACE_MS: '500',
    RATE_LIMIT_PER_MINUTE: '1000000',
    ...opts.env,
  };
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  const url = `http://127.0.0.1:${port}`;
  let out = '';
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);

  const spawnOnce = async (extra: Record<string, string> = {}) => {
    const generation = out.length;
    out += `\n--- start ${new Date().toISOString()} ---\n`;
    const c = spawn(nodeBin(), ['src/main.ts'], {
      cwd: ROOT,
      env: { ...env, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    let alive = true;
    // Its log lines (stdout) and anything else it wrote are checked when it is gone (log-check.ts).
    let stdout = '';
    let stderr = '';
    const label = `child server ${dataDir} (pid ${c.pid})`;
    exited = new Promise((resolve) => {
      c.on('exit', (code) => {
        alive = false;
        out += `\n--- exit code=${code} ---\n`;
        checkOutput(label, stdout, { ...env, ...extra });
        checkOutput(label, stderr, { ...env, ...extra }, false);
        resolve(code);
      });
    });
    c.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      stdout += d.toString();
    });
    c.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
      stderr += d.toString();
    });
    await pollUntil(
      async () => {
        if (!alive) throw new Error(`server exited during start:\n${out.slice(generation)}`);
        try {
          const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
          await res.body?.cancel();
          if (res.status === 200) return true;
        } catch {
          // not listening yet
        }
        return false;
      },
      opts.startTimeoutMs ?? 30_000,
      () => new Error(`server did not become healthy:\n${out.slice(generation)}`),
    );
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return c?.exitCode ?? null;
    c.kill(signal);
    return exited;
  };

  await spawnOnce();
  return {
    url,
    port,
    dataDir,
    env,
    output: () => out,
    kill,
    restart: (extra) => spawnOnce(extra),
    get pid() {
      return child?.pid;
    },
    close: async () => {
      // SIGTERM first so the server stops the tool processes it started; SIGKILL if it lingers.
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
      await kill('SIGTERM');
      clearTimeout(timer);
    },
  };
}
