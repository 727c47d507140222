// SANDBOX_* resource limits (applied by src/sandbox/bwrap/limits.ts).
import { ConfigError, type Env, int, opt } from './parse.ts';

/** Resource limits of every sandboxed process (applied by src/sandbox/bwrap/limits.ts). */
export interface SandboxLimits {
  /** RLIMIT_CPU (seconds of CPU per process); 0 = unlimited. */
  cpuSeconds: number;
  /** Memory of the whole process tree (cgroup); 0 = unlimited. */
  memoryBytes: number;
  /** RLIMIT_AS per process; 0 = unlimited; undefined = automatic (off with a memory cgroup, else 2 × memory). */
  addressSpaceBytes?: number;
  /** Processes/threads in the tree (cgroup pids.max, or RLIMIT_NPROC when no cgroup). */
  maxProcesses: number;
  /** RLIMIT_FSIZE (bytes); 0 = unlimited. */
  fileSizeBytes: number;
  /** RLIMIT_NOFILE. */
  openFiles: number;
  /** Size of the private /tmp (and /dev/shm) tmpfs. */
  tmpBytes: number;
  /** Use cgroups when the hierarchy is writable. */
  cgroup: 'auto' | 'off';
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  cpuSeconds: 900,
  memoryBytes: 4 * 1024 ** 3,
  maxProcesses: 512,
  fileSizeBytes: 1024 ** 3,
  openFiles: 4096,
  tmpBytes: 512 * 1024 ** 2,
  cgroup: 'auto',
};

/** SANDBOX_* limits. Blank values mean "default" for these names. */
export function sandboxLimits(raw: Env): SandboxLimits {
  const env: Env = Object.fromEntries(
    Object.entries(raw).filter(([, v]) => v !== undefined && v.trim() !== ''),
  );
  const D = DEFAULT_SANDBOX_LIMITS;
  const cgroup = (opt(env, 'SANDBOX_CGROUP') ?? 'auto').trim();
  if (cgroup !== 'auto' && cgroup !== 'off')
    throw new ConfigError(`SANDBOX_CGROUP must be "auto" or "off", got "${cgroup}"`);
  const addressSpace = opt(env, 'SANDBOX_ADDRESS_SPACE_BYTES');
  return {
    cpuSeconds: int(env, 'SANDBOX_CPU_SECONDS', D.cpuSeconds, 0),
    memoryBytes: int(env, 'SANDBOX_MEMORY_BYTES', D.memoryBytes, 0),
    maxProcesses: int(env, 'SANDBOX_MAX_PROCESSES', D.maxProcesses, 8),
    fileSizeBytes: int(env, 'SANDBOX_MAX_FILE_BYTES', D.fileSizeBytes, 0),
    openFiles: int(env, 'SANDBOX_MAX_OPEN_FILES', D.openFiles, 64),
    tmpBytes: int(env, 'SANDBOX_TMP_BYTES', D.tmpBytes, 1024 ** 2),
    cgroup,
    ...(addressSpace === undefined
      ? {}
      : { addressSpaceBytes: int(env, 'SANDBOX_ADDRESS_SPACE_BYTES', 0, 0) }),
  };
}
