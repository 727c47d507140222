// Resident memory of process trees, from /proc (Linux; elsewhere every figure is 0). A sandboxed
// process is several levels below the pid the server started (sh → bwrap → the sandbox's init →
// the program), so a tree is summed rather than one pid read.
import { readdirSync, readFileSync } from 'node:fs';

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself contain spaces or parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[1]);
  } catch {
    return undefined;
  }
}

function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The pids of `roots` and all their descendants, as /proc shows them now. */
export function processTrees(roots: readonly number[]): number[] {
  if (roots.length === 0) return [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const e of entries) {
    const pid = Number(e);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const ppid = parentOf(pid);
    if (ppid === undefined) continue;
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  const out: number[] = [];
  const todo = [...roots];
  const seen = new Set<number>();
  while (todo.length > 0) {
    const p = todo.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(p);
    for (const c of children.get(p) ?? []) todo.push(c);
  }
  return out;
}

/** VmRSS summed over each root's tree (bytes; shared pages count in every process that maps them). */
export function treeRss(roots: readonly number[]): number {
  let sum = 0;
  for (const pid of processTrees(roots)) sum += rssBytes(pid);
  return sum;
}
