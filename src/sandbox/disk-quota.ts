// Per-workspace disk quota, enforced while a run is active: a periodic walk of the workspace
// (lstat only, symlinks never followed, hard links counted once) that calls `onExceeded` once
// when the allocated size passes the limit, so the run executor can abort the run's processes.
// Combined with RLIMIT_FSIZE (one file can never be larger than SANDBOX_MAX_FILE_BYTES) this
// bounds how far past the quota a run can get between two walks.
//
//   WORKSPACE_QUOTA_BYTES        quota per workspace; 0 = off                     default 10 GiB
//   WORKSPACE_QUOTA_INTERVAL_MS  walk interval (stretched to 2× a slow walk)      default 5000
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export const DEFAULT_WORKSPACE_QUOTA_BYTES = 10 * 1024 ** 3;
export const DEFAULT_QUOTA_INTERVAL_MS = 5000;

export interface QuotaSettings {
  bytes: number;
  intervalMs: number;
}

export function quotaFromEnv(env: Record<string, string | undefined> = process.env): QuotaSettings {
  const read = (name: string, def: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return def;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number ≥ ${min}, got "${raw}"`);
    return Math.floor(n);
  };
  return {
    bytes: read('WORKSPACE_QUOTA_BYTES', DEFAULT_WORKSPACE_QUOTA_BYTES, 0),
    intervalMs: read('WORKSPACE_QUOTA_INTERVAL_MS', DEFAULT_QUOTA_INTERVAL_MS, 50),
  };
}

export interface DiskUsageOptions {
  /** Stop walking once this many bytes are counted (the answer is then "at least"). */
  stopAt?: number;
  signal?: AbortSignal;
}

/**
 * Bytes allocated under `dir` (st_blocks × 512, falling back to st_size), not following symlinks,
 * each inode once. Entries that vanish mid-walk are skipped.
 */
export async function diskUsage(dir: string, opts: DiskUsageOptions = {}): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const stack: string[] = [dir];
  while (stack.length > 0) {
    if (opts.signal?.aborted) break;
    if (opts.stopAt !== undefined && total > opts.stopAt) break;
    const cur = stack.pop() as string;
    let st: Awaited<ReturnType<typeof fsp.lstat>>;
    try {
      st = await fsp.lstat(cur, { bigint: false });
    } catch {
      continue;
    }
    const key = `${st.dev}:${st.ino}`;
    if (st.nlink > 1 || st.isDirectory()) {
      if (seen.has(key)) continue;
      seen.add(key);
    }
    total += st.blocks > 0 ? st.blocks * 512 : st.size;
    if (st.isDirectory()) {
      let names: string[];
      try {
        names = await fsp.readdir(cur);
      } catch {
        continue;
      }
      for (const n of names) stack.push(path.join(cur, n));
    }
  }
  return total;
}

export interface QuotaExceeded {
  dir: string;
  usedBytes: number;
  limitBytes: number;
}

export interface WatchOptions {
  intervalMs?: number;
  /** Called with each measurement (metrics, tests). */
  onMeasure?: (usedBytes: number) => void;
}

/**
 * Watches `dir` until the returned stop function is called. `onExceeded` fires at most once, as
 * soon as a walk finds more than `bytes` allocated. `bytes <= 0` disables the watch.
 */
export function watchDiskQuota(
  dir: string,
  bytes: number,
  onExceeded: (info: QuotaExceeded) => void,
  opts: WatchOptions = {},
): () => void {
  if (!(bytes > 0)) return () => {};
  const interval = Math.max(50, opts.intervalMs ?? DEFAULT_QUOTA_INTERVAL_MS);
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let fired = false;

  const tick = async () => {
    if (ac.signal.aborted) return;
    const started = performance.now();
    let used = 0;
    try {
      used = await diskUsage(dir, { stopAt: bytes, signal: ac.signal });
    } catch {
      used = 0;
    }
    if (ac.signal.aborted) return;
    opts.onMeasure?.(used);
    if (used > bytes && !fired) {
      fired = true;
      try {
        onExceeded({ dir, usedBytes: used, limitBytes: bytes });
      } catch {
        // The caller's problem; the watch is done either way.
      }
      return;
    }
    // A slow walk (huge tree) must not turn into a busy loop.
    const took = performance.now() - started;
    timer = setTimeout(tick, Math.max(interval, 2 * took));
    timer.unref();
  };
  timer = setTimeout(tick, 0);
  timer.unref();

  return () => {
    ac.abort();
    clearTimeout(timer);
  };
}
