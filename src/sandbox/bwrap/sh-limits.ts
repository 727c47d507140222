// Resource limits set by the `sh` that already starts every sandboxed process (it opens the seccomp
// program and joins the cgroups), instead of one more `prlimit` exec inside the sandbox: every exec
// of a dynamically linked helper costs about a millisecond, on every tool call.
//
// Only on a root server: the limits are then set while the shell is still root, inherited through
// bwrap and setpriv, and hard = soft, so the session's uid cannot raise them. (With a user namespace
// the process-count limit must be set inside: RLIMIT_NPROC counts processes per host uid, and there
// the host uid is the server's own.)
//
// `ulimit` differs between shells (dash: -p is the process count, -f counts 512-byte blocks; bash:
// -u, 1024-byte blocks outside POSIX mode), so the flags and units are probed once against
// /proc/self/limits, and nothing is used unless every limit reads back exactly.
import { spawnSync } from 'node:child_process';
import type { Limits } from './limits.ts';

export interface ShellLimitDialect {
  /** The ulimit flag for RLIMIT_NPROC in this /bin/sh. */
  nprocFlag: '-u' | '-p';
  /** Bytes per unit of `ulimit -f`. */
  fileUnit: number;
}

const PROBE = { cpu: 901, nofile: 1021, nproc: 4093, fileBlocks: 20_480, vmKib: 9_437_184 };

function readLimits(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n').slice(1)) {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (m?.[1]) out.set(m[1].trim(), [m[2] ?? '', m[3] ?? '']);
  }
  return out;
}

/** The /bin/sh dialect, or null when its ulimit cannot be trusted (then prlimit is used). */
export function probeShellLimits(sh = '/bin/sh'): ShellLimitDialect | null {
  for (const nprocFlag of ['-p', '-u'] as const) {
    const script = [
      `ulimit -t ${PROBE.cpu}`,
      `ulimit -n ${PROBE.nofile}`,
      `ulimit ${nprocFlag} ${PROBE.nproc}`,
      `ulimit -f ${PROBE.fileBlocks}`,
      `ulimit -v ${PROBE.vmKib}`,
      'ulimit -c 0',
      'exec cat /proc/self/limits',
    ].join(' && ');
    const r = spawnSync(sh, ['-c', script], { encoding: 'utf8', timeout: 5000 });
    if (r.status !== 0) continue;
    const l = readLimits(r.stdout);
    const same = (name: string, v: number) =>
      l.get(name)?.[0] === String(v) && l.get(name)?.[1] === String(v);
    const fileBytes = Number(l.get('Max file size')?.[0]);
    const fileUnit = fileBytes / PROBE.fileBlocks;
    if (
      same('Max cpu time', PROBE.cpu) &&
      same('Max open files', PROBE.nofile) &&
      same('Max processes', PROBE.nproc) &&
      same('Max address space', PROBE.vmKib * 1024) &&
      same('Max core file size', 0) &&
      (fileUnit === 512 || fileUnit === 1024) &&
      l.get('Max file size')?.[1] === String(fileBytes)
    ) {
      return { nprocFlag, fileUnit };
    }
  }
  return null;
}

/** `ulimit … && ` for the limits (hard = soft), to put in front of the shell's exec. */
export function shellLimitPrefix(
  d: ShellLimitDialect,
  limits: Limits,
  o: { addressSpaceBytes: number; nproc: boolean },
): string {
  const parts: string[] = [];
  if (limits.cpuSeconds > 0) parts.push(`ulimit -t ${limits.cpuSeconds}`);
  if (o.addressSpaceBytes > 0) parts.push(`ulimit -v ${Math.floor(o.addressSpaceBytes / 1024)}`);
  if (limits.fileSizeBytes > 0)
    parts.push(`ulimit -f ${Math.max(1, Math.floor(limits.fileSizeBytes / d.fileUnit))}`);
  if (limits.openFiles > 0) parts.push(`ulimit -n ${limits.openFiles}`);
  if (o.nproc && limits.maxProcesses > 0) parts.push(`ulimit ${d.nprocFlag} ${limits.maxProcesses}`);
  parts.push('ulimit -c 0');
  return `${parts.join(' && ')} && `;
}
