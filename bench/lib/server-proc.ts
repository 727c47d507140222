// Starts bench/lib/server-child.ts: the real server in a separate process with --expose-gc.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Child, spawnChild } from './ipc.ts';

export interface Mem {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface ServerProc {
  url: string;
  wsUrl: string;
  pid: number;
  dataDir: string;
  mem(): Promise<Mem>;
  /** process CPU time (µs) and the child's clock (ms) */
  cpu(): Promise<{ userUs: number; systemUs: number; at: number }>;
  stop(): Promise<void>;
}

export async function tempDir(prefix: string): Promise<string> {
  return fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), prefix)));
}

/** Environment of a benchmark server: embedded SQLite in a fresh DATA_DIR, no auth, limits opened up. */
export function benchEnv(
  dataDir: string,
  llmUrl: string,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG'])
    if (process.env[k] !== undefined) env[k] = process.env[k];
  return {
    ...env,
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ANTHROPIC_BASE_URL: llmUrl,
    ANTHROPIC_API_KEY: 'bench-key',
    AGENT_ENGINE: 'native',
    SANDBOX: 'none',
    ALLOW_FILE_REPOS: 'true',
    LOG_LEVEL: 'error',
    MAX_CONCURRENT_RUNS: '2000',
    RATE_LIMIT_PER_MINUTE: '10000000',
    MAX_WS_PER_CREDENTIAL: '10000',
    // A/B runs (bench/observability-overhead.ts) vary settings of the server under test.
    ...(JSON.parse(process.env.BENCH_SERVER_ENV ?? '{}') as Record<string, string>),
    ...extra,
  };
}

export async function startServerProc(
  llmUrl: string,
  extra: Record<string, string> = {},
): Promise<ServerProc> {
  const dataDir = await tempDir('agent-bench-data-');
  const child: Child = spawnChild(new URL('./server-child.ts', import.meta.url).pathname, {
    nodeArgs: ['--expose-gc', ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    env: benchEnv(dataDir, llmUrl, extra),
  });
  const { url } = await child.call<{ url: string }>({ type: 'start' }, 30_000);
  return {
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/ws`,
    pid: child.proc.pid ?? 0,
    dataDir,
    mem: () => child.call<Mem>({ type: 'mem' }),
    cpu: () => child.call({ type: 'cpu' }),
    async stop() {
      await child.call({ type: 'stop' }, 15_000).catch(() => {});
      const t = setTimeout(() => void child.kill(), 5_000);
      await child.exited;
      clearTimeout(t);
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
