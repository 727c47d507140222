// Cold start: `node src/main.ts` with a fresh DATA_DIR (the database is created and migrated) until
// the first 200 from GET /health, polled every 5 ms. Default configuration otherwise.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import { tempDir } from '../lib/server-proc.ts';
import { median, sleep } from '../lib/stats.ts';

export interface ColdStartResult {
  runs: number[];
  median: number;
  /** the same with NODE_COMPILE_CACHE pointing at a cache primed by one earlier start */
  cachedRuns: number[];
  cachedMedian: number;
  /** `import('src/runtime.ts')` alone in a fresh node process (module loading, no I/O), median */
  importMedian: number;
}

async function importTime(): Promise<number> {
  const runtimeTs = new URL('../../src/runtime.ts', import.meta.url).href;
  const code = `const t = performance.now(); await import(${JSON.stringify(runtimeTs)}); console.log(performance.now() - t);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.once('exit', (code) =>
      code === 0 ? resolve(Number(out.trim())) : reject(new Error(`import probe exited ${code}`)),
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function once(extraEnv: Record<string, string> = {}): Promise<number> {
  const dataDir = await tempDir('agent-bench-cold-');
  const port = await freePort();
  const mainTs = new URL('../../src/main.ts', import.meta.url).pathname;
  const env: NodeJS.ProcessEnv = {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'error',
    ...extraEnv,
  };
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG'])
    if (process.env[k] !== undefined) env[k] = process.env[k];
  let stderr = '';
  const t0 = performance.now();
  const child = spawn(process.execPath, [mainTs], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`server exited with ${child.exitCode}: ${stderr.slice(0, 500)}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status === 200) return performance.now() - t0;
      } catch {
        // not listening yet
      }
      if (performance.now() - t0 > 30_000)
        throw new Error(`no 200 from /health within 30 s: ${stderr.slice(0, 500)}`);
      await sleep(5);
    }
  } finally {
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

export async function benchColdStart(k: number): Promise<ColdStartResult> {
  // First start after an install: an empty compile cache every time (src/main.ts enables Node's
  // compile cache, which would otherwise be warm from earlier runs in the default tmp location).
  const runs: number[] = [];
  for (let i = 0; i < k; i++) {
    const empty = await tempDir('agent-bench-ncc-empty-');
    try {
      runs.push(await once({ NODE_COMPILE_CACHE: empty }));
    } finally {
      await fs.rm(empty, { recursive: true, force: true });
    }
  }
  const cacheDir = await tempDir('agent-bench-ncc-');
  try {
    const env = { NODE_COMPILE_CACHE: cacheDir };
    await once(env); // primes the cache
    const cachedRuns: number[] = [];
    for (let i = 0; i < k; i++) cachedRuns.push(await once(env));
    const imports: number[] = [];
    for (let i = 0; i < k; i++) imports.push(await importTime());
    return {
      runs,
      median: median(runs),
      cachedRuns,
      cachedMedian: median(cachedRuns),
      importMedian: median(imports),
    };
  } finally {
    await fs.rm(cacheDir, { recursive: true, force: true });
  }
}
