// Runs `fs search` in a worker thread with a deadline, so a pathological regex costs one
// terminated worker instead of a blocked event loop.
import { Worker } from 'node:worker_threads';
import { SKIP_DIRS } from './fs-ops.ts';
import type { SearchReply, SearchRequest } from './fs-search-worker.ts';
import { ToolError } from './types.ts';

export interface SearchOptions {
  /** The workspace root. */
  workspace: string;
  /** What to search, relative to the workspace. */
  path: string;
  pattern: string;
  ignoreCase?: boolean;
  glob?: string;
  maxResults?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const WORKER_URL = new URL('./fs-search-worker.ts', import.meta.url);

export function searchFiles(opts: SearchOptions): Promise<SearchReply & { ok: true }> {
  const req: SearchRequest = {
    workspace: opts.workspace,
    path: opts.path,
    pattern: opts.pattern,
    ignoreCase: opts.ignoreCase ?? false,
    glob: opts.glob,
    maxResults: opts.maxResults ?? 500,
    maxFileBytes: 5 * 1024 * 1024,
    maxLineChars: 300,
    skipDirs: [...SKIP_DIRS, 'node_modules'],
  };
  if (opts.signal?.aborted) return Promise.reject(new ToolError('aborted', 'Search was cancelled'));
  return new Promise((resolve, reject) => {
    // A fresh env object: the worker gets no view of the server's environment variables.
    const worker = new Worker(WORKER_URL, {
      workerData: req,
      env: {},
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      fn();
    };
    const onAbort = () => finish(() => reject(new ToolError('aborted', 'Search was cancelled')));
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(
            new ToolError('search_timeout', 'Search timed out: simplify the pattern or narrow the path/glob'),
          ),
        ),
      opts.timeoutMs ?? 30_000,
    );
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (reply: SearchReply) =>
      finish(() =>
        reply.ok
          ? resolve(reply)
          : reject(
              reply.code === undefined
                ? new ToolError('invalid_input', `Search failed: ${reply.error}`)
                : new ToolError(reply.code, reply.error),
            ),
      ),
    );
    worker.once('error', (err) => finish(() => reject(new ToolError('search_failed', String(err)))));
    worker.once('exit', (code) =>
      finish(() => reject(new ToolError('search_failed', `Search worker exited with code ${code}`))),
    );
  });
}
