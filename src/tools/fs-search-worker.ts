// Worker thread for `fs search`. The regex comes from the model, so it may backtrack
// catastrophically; running it here lets the caller terminate it instead of freezing the server.
// Files are reached only through descriptors beneath the workspace root (src/sandbox/workspace/beneath.ts):
// a directory swapped for a symlink by a parallel `bash` is skipped, never followed, and a FIFO
// is refused without blocking.
import { constants as C } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { BeneathRoot, type DirRef, openFileIn, readBounded, walkTree } from '../sandbox/workspace/beneath.ts';
import { globMatcher } from './glob.ts';

export interface SearchRequest {
  /** The workspace root. */
  workspace: string;
  /** What to search, relative to the workspace (a directory or one file). */
  path: string;
  pattern: string;
  ignoreCase: boolean;
  glob?: string;
  maxResults: number;
  maxFileBytes: number;
  maxLineChars: number;
  skipDirs: string[];
}

export type SearchReply =
  | { ok: true; lines: string[]; truncated: boolean; filesScanned: number }
  | { ok: false; error: string; code?: string };

async function search(req: SearchRequest): Promise<SearchReply> {
  let re: RegExp;
  let matchPath: (rel: string) => boolean = () => true;
  try {
    re = new RegExp(req.pattern, req.ignoreCase ? 'i' : '');
    if (req.glob) matchPath = globMatcher(req.glob);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  const lines: string[] = [];
  const skip = new Set(req.skipDirs);
  let filesScanned = 0;
  let truncated = false;

  const scanFile = async (dir: DirRef, name: string, shown: string) => {
    let opened: Awaited<ReturnType<typeof openFileIn>>;
    try {
      opened = await openFileIn(dir, name, C.O_RDONLY);
    } catch {
      return; // links, FIFOs, hard links, vanished files: not searched
    }
    try {
      if (opened.stat.size > req.maxFileBytes) return;
      const { data } = await readBounded(opened.fh, req.maxFileBytes);
      if (data.subarray(0, 8192).includes(0)) return; // binary
      filesScanned++;
      const text = data.toString('utf8').split('\n');
      for (let i = 0; i < text.length; i++) {
        const line = text[i]!;
        if (!re.test(line)) continue;
        const cut = line.length > req.maxLineChars ? `${line.slice(0, req.maxLineChars)}…` : line;
        lines.push(`${shown}:${i + 1}: ${cut}`);
        if (lines.length >= req.maxResults) {
          truncated = true;
          return;
        }
      }
    } finally {
      await opened.fh.close();
    }
  };

  const root = await BeneathRoot.open(req.workspace);
  try {
    const loc = await root.locate(req.path);
    try {
      if (loc.name !== null && loc.stat === null)
        return { ok: false, error: `No such file or directory: ${req.path}`, code: 'not_found' };
      if (loc.name !== null && !loc.stat?.isDirectory()) {
        await scanFile(loc.dir, loc.name, loc.rel);
        return { ok: true, lines, truncated, filesScanned };
      }
      const top = loc.name === null ? await loc.dir.dup() : await loc.dir.openDir(loc.name);
      try {
        const base = top.rel;
        await walkTree(top, async (e) => {
          if (truncated) return 'stop';
          const full = e.dir.child(e.name);
          const rel = base === '.' ? full : full.slice(base.length + 1);
          if (e.stat.isDirectory()) return !skip.has(e.name);
          if (e.stat.isFile() && matchPath(rel)) await scanFile(e.dir, e.name, full);
          return false;
        });
      } finally {
        await top.close();
      }
    } finally {
      await loc.dir.close();
    }
  } finally {
    await root.close();
  }
  return { ok: true, lines, truncated, filesScanned };
}

if (parentPort) {
  const port = parentPort;
  search(workerData as SearchRequest).then(
    (reply) => port.postMessage(reply),
    (err: unknown) =>
      port.postMessage({
        ok: false,
        error: err instanceof Error ? err.message : String(err),
        code:
          (err as { code?: unknown }).code === undefined
            ? undefined
            : String((err as { code?: unknown }).code),
      } satisfies SearchReply),
  );
}
