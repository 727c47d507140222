// Per-workspace disk quota, enforced while a run is active: a periodic walk of the workspace
// (through directory descriptors, symlinks never followed, hard links counted once) that calls `onExceeded` once
// when the allocated size passes the limit, so the run executor can abort the run's processes.
// Combined with RLIMIT_FSIZE (one file can never be larger than SANDBOX_MAX_FILE_BYTES) this
// bounds how far past the quota a run can get between two walks.
//
//   WORKSPACE_QUOTA_BYTES        quota per workspace; 0 = off                     default 10 GiB
//   WORKSPACE_QUOTA_INTERVAL_MS  walk interval (stretched to 2× a slow walk)      default 5000
import { BeneathRoot, TooDeepError, walkTree } from './beneath.ts';

export const DEFAULT_QUOTA_INTERVAL_MS = 5000;

export interface DiskUsageOptions {
  /** Stop walking once this many bytes are counted (the answer is then "at least"). */
  stopAt?: number;
  signal?: AbortSignal;
}

export interface DiskUsage {
  bytes: number;
  /** The tree nests deeper than a walk follows (MAX_WALK_DEPTH): treated as over quota. */
  tooDeep: boolean;
}

/**
 * Bytes allocated under `dir` (st_blocks × 512, falling back to st_size), each inode once. The
 * walk goes through directory descriptors (beneath.ts): the workspace is written by the agent
 * while it is measured, and a directory swapped for a symlink must not lead the server's walk
 * anywhere else (it is skipped). Entries that vanish mid-walk are skipped.
 */
export async function diskUsage(dir: string, opts: DiskUsageOptions = {}): Promise<DiskUsage> {
  const seen = new Set<string>();
  let total = 0;
  let root: BeneathRoot;
  try {
    root = await BeneathRoot.open(dir);
  } catch {
    return { bytes: 0, tooDeep: false };
  }
  try {
    const top = await root.openRoot();
    try {
      const st = await top.fh.stat();
      total += st.blocks > 0 ? st.blocks * 512 : st.size;
      await walkTree(
        top,
        (e) => {
          if (opts.stopAt !== undefined && total > opts.stopAt) return 'stop';
          const key = `${e.stat.dev}:${e.stat.ino}`;
          if (e.stat.nlink > 1 || e.stat.isDirectory()) {
            if (seen.has(key)) return false;
            seen.add(key);
          }
          total += e.stat.blocks > 0 ? e.stat.blocks * 512 : e.stat.size;
          return e.stat.isDirectory();
        },
        { signal: opts.signal },
      );
    } finally {
      await top.close();
    }
  } catch (err) {
    if (err instanceof TooDeepError) return { bytes: total, tooDeep: true };
    throw err;
  } finally {
    await root.close();
  }
  return { bytes: total, tooDeep: false };
}

export interface QuotaExceeded {
  dir: string;
  usedBytes: number;
  limitBytes: number;
  /** `depth`: directories nested deeper than a walk follows, so the size cannot be known. */
  reason: 'size' | 'depth';
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
    let tooDeep = false;
    try {
      ({ bytes: used, tooDeep } = await diskUsage(dir, { stopAt: bytes, signal: ac.signal }));
    } catch {
      used = 0;
    }
    if (ac.signal.aborted) return;
    opts.onMeasure?.(used);
    if ((used > bytes || tooDeep) && !fired) {
      fired = true;
      try {
        onExceeded({ dir, usedBytes: used, limitBytes: bytes, reason: tooDeep ? 'depth' : 'size' });
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
