// Worker thread for `fs search`. The regex comes from the model, so it may backtrack
// catastrophically; running it here lets the caller terminate it instead of freezing the server.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { globMatcher } from './glob.ts';

export interface SearchRequest {
  root: string;
  /** Path prefix for results (relative to the workspace). */
  displayRoot: string;
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
  | { ok: false; error: string };

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

  const display = (rel: string) => (req.displayRoot ? path.posix.join(req.displayRoot, rel) : rel) || '.';

  const scanFile = async (abs: string, rel: string) => {
    const st = await fsp.lstat(abs);
    if (!st.isFile() || st.nlink > 1 || st.size > req.maxFileBytes) return;
    const buf = await fsp.readFile(abs);
    if (buf.subarray(0, 8192).includes(0)) return; // binary
    filesScanned++;
    const text = buf.toString('utf8').split('\n');
    for (let i = 0; i < text.length; i++) {
      const line = text[i]!;
      if (!re.test(line)) continue;
      const shown = line.length > req.maxLineChars ? `${line.slice(0, req.maxLineChars)}…` : line;
      lines.push(`${display(rel)}:${i + 1}: ${shown}`);
      if (lines.length >= req.maxResults) {
        truncated = true;
        return;
      }
    }
  };

  const walk = async (abs: string, rel: string): Promise<void> => {
    const items = await fsp.readdir(abs, { withFileTypes: true }).catch(() => []);
    items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const item of items) {
      if (truncated) return;
      const childRel = rel ? `${rel}/${item.name}` : item.name;
      const full = path.join(abs, item.name);
      // Symlinks are neither followed nor read: they may lead outside the workspace.
      if (item.isDirectory()) {
        if (!skip.has(item.name)) await walk(full, childRel);
      } else if (item.isFile() && matchPath(childRel)) {
        await scanFile(full, childRel).catch(() => undefined);
      }
    }
  };

  const st = await fsp.lstat(req.root);
  if (st.isDirectory()) await walk(req.root, '');
  else await scanFile(req.root, '');
  return { ok: true, lines, truncated, filesScanned };
}

if (parentPort) {
  const port = parentPort;
  search(workerData as SearchRequest).then(
    (reply) => port.postMessage(reply),
    (err: unknown) => port.postMessage({ ok: false, error: String(err) } satisfies SearchReply),
  );
}
