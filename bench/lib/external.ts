// Other engineers' benchmarks (bench/workflows.ts, bench/sandbox-overhead.ts, bench/claude-code-probe.ts)
// run as child processes; each prints a final JSON line `{"figures": {...}}`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface ExternalResult {
  name: string;
  file: string;
  status: 'ok' | 'absent' | 'failed' | 'timeout' | 'skipped';
  durationMs: number;
  figures?: Record<string, unknown>;
  /** the output, when no figures line was found or the bench failed */
  raw?: string;
  exitCode?: number | null;
}

export function findFigures(stdout: string): Record<string, unknown> | undefined {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(t) as { figures?: unknown };
      if (typeof parsed.figures === 'object' && parsed.figures !== null)
        return parsed.figures as Record<string, unknown>;
    } catch {
      // not JSON
    }
  }
  return undefined;
}

export async function runExternal(name: string, args: string[], timeoutMs: number): Promise<ExternalResult> {
  const file = new URL(`../${name}.ts`, import.meta.url).pathname;
  const rel = `bench/${name}.ts`;
  if (!existsSync(file)) return { name, file: rel, status: 'absent', durationMs: 0 };
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      process.stderr.write(`  [${name}] ${c.toString().trimEnd().replaceAll('\n', `\n  [${name}] `)}\n`);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // the bench may have children of its own: end its whole process group
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const durationMs = performance.now() - t0;
      const figures = findFigures(out);
      const tail = (s: string): string => (s.length > 4000 ? `…${s.slice(-4000)}` : s);
      if (timedOut)
        return resolve({
          name,
          file: rel,
          status: 'timeout',
          durationMs,
          raw: tail(out + err),
          exitCode: code,
        });
      if (code !== 0 || !figures)
        return resolve({
          name,
          file: rel,
          status: code === 0 ? 'ok' : 'failed',
          durationMs,
          ...(figures ? { figures } : {}),
          raw: tail(out + (code === 0 ? '' : err)),
          exitCode: code,
        });
      resolve({ name, file: rel, status: 'ok', durationMs, figures, exitCode: code });
    });
  });
}
