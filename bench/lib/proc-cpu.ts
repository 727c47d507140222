// CPU time of processes the bench did not start through IPC (PostgreSQL, redis-server) and of the
// whole machine, from /proc. A process tree's time includes its reaped children (cutime/cstime:
// PostgreSQL backends that ended), so a backend that exits between two samples is not lost.
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on every Linux build in practice). */
const HZ = 100;

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime (clock ticks) */
  own: number;
  /** cutime + cstime: children that ended and were waited for */
  reaped: number;
  /** start time in clock ticks since boot: with the pid, identifies the process */
  start: number;
}

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command (which may contain spaces and parentheses)
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return {
      pid,
      ppid: Number(f[1]),
      own: Number(f[11]) + Number(f[12]),
      reaped: Number(f[13]) + Number(f[14]),
      start: Number(f[19]),
    };
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** The first process whose command line satisfies `match`, or undefined. */
export function findProcess(match: (argv: string[]) => boolean): number | undefined {
  return pids().find((p) => match(cmdline(p)));
}

/** The PostgreSQL postmaster listening on `port` (started as `postgres -D … -p PORT …`). */
export function findPostmaster(port: number): number | undefined {
  return findProcess(
    (a) => /(^|\/)postgres$/.test(a[0] ?? '') && a.some((x, i) => x === '-p' && a[i + 1] === String(port)),
  );
}

/** The redis-server on `port` (its process title is `redis-server 127.0.0.1:PORT`). */
export function findRedisServer(port: number): number | undefined {
  return findProcess((a) => /(^|\/)redis-server\b/.test(a[0] ?? '') && a.join(' ').includes(`:${port}`));
}

/** `root` and every descendant (by parent pid), as currently in /proc; [] when `root` is gone. */
export function processTree(root: number): ProcStat[] {
  const all = pids()
    .map(readProcStat)
    .filter((s): s is ProcStat => s !== undefined);
  const children = new Map<number, ProcStat[]>();
  for (const s of all) {
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  const self = all.find((s) => s.pid === root);
  if (!self) return [];
  const out: ProcStat[] = [self];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!.pid) ?? []));
  return out;
}

/** CPU seconds used so far by `root`, its live descendants and the children it reaped. */
export function treeCpuSeconds(root: number): number {
  const [self, ...descendants] = processTree(root);
  if (!self) return 0;
  return (self.own + self.reaped + descendants.reduce((n, s) => n + s.own, 0)) / HZ;
}

/** Busy and total ticks of the whole machine (all cores) from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * Scheduler statistics of a process's main thread (the JS event loop): ns on a CPU and ns
 * runnable but waiting for one (/proc/<pid>/schedstat). Waiting time is the CPU the thread wanted
 * and did not get: on an oversubscribed machine it, not the thread's own work, bounds throughput.
 */
export function schedStat(pid: number): { runNs: number; waitNs: number } {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    return { runNs: run ?? 0, waitNs: wait ?? 0 };
  } catch {
    return { runNs: Number.NaN, waitNs: Number.NaN };
  }
}
