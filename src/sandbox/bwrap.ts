// The bubblewrap sandbox: every process the agent starts (bash, git, node, …) runs in its own
// mount, PID, IPC, UTS, cgroup and network namespaces (plus a user namespace when the kernel
// allows it), with no capabilities, on a root made only of:
//   /usr, /bin, /lib* (read-only)      the system's programs
//   /etc (a few allowlisted entries)   never shadow/gshadow/ssh host keys/sudoers/npmrc/…; a
//                                       synthetic passwd/group
//   node's own directory (read-only)    so `node test.js` works even when node lives under /root
//   the workspace (read-write)          at its own path, so paths printed by tools match
//   the session home (read-write)       when it is the per-session home dir; else a tmpfs HOME
//   /tmp, /dev/shm                      private, size-limited tmpfs
//   /dev, /proc                         minimal devices; a /proc that shows only the sandbox
// and nothing else: no DATA_DIR (database, audit log, other workspaces), no /root, /home, /run,
// /var, and not the server's own checkout. The root, /dev and the mount tree are read-only.
//
// Networking never shares the host stack: see net-policy.ts. Limits: see limits.ts.
//
// Split by job: bwrap-probe.ts (finding/probing bwrap), bwrap-paths.ts (host-path policy),
// bwrap-etc.ts (sanitized /etc, passwd), bwrap-args.ts (static command line), bwrap-env.ts
// (the child env). This file puts them together and wraps each process.
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import { buildStaticArgs } from './bwrap-args.ts';
import { sanitizeEnv } from './bwrap-env.ts';
import { buildEtc, makeRuntimeDir, passwdWriter } from './bwrap-etc.ts';
import { createHostPathPolicy, isInside, realOrResolve } from './bwrap-paths.ts';
import { probeBwrap, resolveBwrapPath, SandboxUnavailableError } from './bwrap-probe.ts';
import {
  type CgroupInfo,
  CgroupManager,
  cgroupJoinScript,
  effectiveAddressSpace,
  type Limits,
  limitsFromEnv,
  prlimitArgs,
  ulimitScript,
} from './limits.ts';
import {
  type EgressProxy,
  FORWARDER_SOURCE,
  parseAllowList,
  policyFor,
  startEgressProxy,
} from './net-policy.ts';
import type { ProcessSpec, SandboxWrapper, WrappedCommand } from './types.ts';

export { SECRET_ENV_NAMES, sanitizeEnv } from './bwrap-env.ts';
export { SANDBOX_GID, SANDBOX_UID, SandboxUnavailableError } from './bwrap-probe.ts';

/** Where the egress socket and forwarder appear inside network-enabled sandboxes. */
const SANDBOX_RUN = '/run/duyetbot';

export interface BwrapOptions {
  config: Config;
  dataDir: string;
  limits?: Partial<Limits>;
  logger?: Logger;
  /** Defaults to `bwrap` on PATH (or /usr/bin/bwrap). */
  bwrapPath?: string;
  /** Environment the SANDBOX_*, SANDBOX_RO_BIND and BWRAP_PATH settings are read from (default process.env). */
  env?: Record<string, string | undefined>;
}

export interface BwrapInfo {
  bwrapPath: string;
  userns: boolean;
  cgroup: CgroupInfo;
  prlimit: boolean;
  /** RLIMIT_AS applied (0 = none). */
  addressSpaceBytes: number;
  /** RLIMIT_NPROC applied (only without a pids cgroup, and never effective for uid 0). */
  nproc: boolean;
  /** Egress proxy socket on the host, when network-enabled processes have one. */
  egressSocket: string | null;
  runtimeDir: string;
}

export interface BwrapSandbox extends SandboxWrapper {
  readonly kind: 'bwrap';
  readonly limits: Limits;
  readonly info: BwrapInfo;
  /**
   * Makes a host loopback port (e.g. the LLM proxy) reachable from network-enabled sandboxes at
   * the same 127.0.0.1:<port>. Nothing else on the host's loopback ever is.
   */
  allowLoopbackPort(port: number): void;
  /** Resolves once the egress proxy listens (immediately when there is none). */
  ready(): Promise<void>;
  /** Stops the egress proxy, removes cgroups and the runtime directory. */
  close(): Promise<void>;
}

export function createBwrapSandbox(opts: BwrapOptions): BwrapSandbox {
  const env = opts.env ?? process.env;
  const logger = opts.logger;
  const bwrapPath = resolveBwrapPath(opts.bwrapPath, env);
  const probe = probeBwrap(bwrapPath);
  const has = (flag: string) => probe.help.includes(flag);
  const isRoot = process.getuid?.() === 0;
  const userns = probe.userns;

  const limits: Limits = { ...limitsFromEnv(env), ...opts.limits };
  const cgroups = limits.cgroup === 'auto' ? new CgroupManager(limits) : null;
  const cgInfo: CgroupInfo = cgroups?.info ?? { pids: false, memory: false, version: null };
  const addressSpaceBytes = effectiveAddressSpace(limits, cgInfo.memory);
  const nproc = !cgInfo.pids;
  if (!cgInfo.pids && isRoot) {
    logger?.warn(
      'sandbox: no writable pids cgroup and the server runs as root: the process-count limit (fork bombs) is NOT enforced; rely on timeouts',
    );
  }
  const prlimitPath = ['/usr/bin/prlimit', '/bin/prlimit'].find((p) => existsSync(p)) ?? null;

  // ----- paths a sandbox must never see --------------------------------------------------
  const { unsafeBind, hostPathRefusal } = createHostPathPolicy(opts.dataDir);

  // ----- static part of the command line (same for every process) -------------------------
  const runtimeDir = makeRuntimeDir();
  const etcDir = buildEtc(runtimeDir);
  const { staticArgs, nodeReal } = buildStaticArgs({
    userns,
    has,
    tmpBytes: limits.tmpBytes,
    etcDir,
    unsafeBind,
    env,
  });

  // ----- runtime directory: synthetic passwd per home, forwarder, egress socket -------------
  const passwdFor = passwdWriter(runtimeDir);

  const allowList = opts.config.sandboxNetwork;
  const fwdFile = path.join(runtimeDir, 'netfwd.cjs');
  writeFileSync(fwdFile, FORWARDER_SOURCE, { mode: 0o644 });
  const socketPath = path.join(runtimeDir, 'egress.sock');
  // A second proxy for processes that run the model's commands (ProcessSpec.egress = 'tools'):
  // the allowlist only, never "any public host".
  const toolsSocketPath = path.join(runtimeDir, 'egress-tools.sock');
  const proxies: EgressProxy[] = [];
  let proxyFailed = false;
  const loopbackPorts = new Set<number>();
  const proxyReady: Promise<void> = Promise.all([
    startEgressProxy({
      socketPath,
      policy: policyFor(allowList),
      loopbackPorts,
      ...(logger ? { logger } : {}),
    }),
    startEgressProxy({
      socketPath: toolsSocketPath,
      policy: parseAllowList(allowList),
      loopbackPorts,
      ...(logger ? { logger } : {}),
    }),
  ]).then(
    (ps) => {
      proxies.push(...ps);
    },
    (err: unknown) => {
      proxyFailed = true;
      logger?.error('sandbox: egress proxy failed to start; network-enabled processes get no network', {
        err,
      });
    },
  );

  // The runtime dir holds nothing secret, but do not leave it behind when the server exits.
  const onExit = () => {
    rmSync(runtimeDir, { recursive: true, force: true });
    cgroups?.close();
  };
  process.once('exit', onExit);

  const info: BwrapInfo = {
    bwrapPath,
    userns,
    cgroup: cgInfo,
    prlimit: prlimitPath !== null,
    addressSpaceBytes,
    nproc,
    egressSocket: socketPath,
    runtimeDir,
  };

  const limitPrefix = (): string[] => {
    const o = { addressSpaceBytes, nproc };
    if (prlimitPath) return [prlimitPath, ...prlimitArgs(limits, o), '--'];
    return ['/bin/sh', '-c', ulimitScript(limits, o), 'sandbox-limits'];
  };

  const wrap = (spec: ProcessSpec): WrappedCommand => {
    const ws = spec.workspace;
    // Judge what the bind would really expose (a symlinked workspace path binds its target).
    const wsWhy = unsafeBind(ws) ?? unsafeBind(realOrResolve(ws));
    if (wsWhy) throw new SandboxUnavailableError(`sandbox: refusing workspace "${ws}": it ${wsWhy}`);
    const childEnv = sanitizeEnv(spec.env, opts.config);

    const args: string[] = [...staticArgs];
    args.push('--bind', ws, ws);

    // HOME: the per-session home read-write; anything unsafe becomes a private directory in /tmp.
    let homeBound: string | null = null;
    const home = childEnv.HOME;
    if (home && path.isAbsolute(home) && !isInside(ws, home)) {
      let ok = unsafeBind(home) === null && unsafeBind(realOrResolve(home)) === null;
      try {
        ok = ok && statSync(home).isDirectory();
      } catch {
        ok = false;
      }
      if (ok) {
        args.push('--bind', home, home);
        homeBound = home;
      } else {
        childEnv.HOME = '/tmp';
      }
    }
    const effHome = childEnv.HOME ?? '/tmp';
    args.push('--ro-bind', passwdFor(effHome), '/etc/passwd');
    const tmpdir = childEnv.TMPDIR;
    if (
      tmpdir !== undefined &&
      !(
        isInside(ws, tmpdir) ||
        isInside('/tmp', tmpdir) ||
        (homeBound !== null && isInside(homeBound, tmpdir))
      )
    ) {
      childEnv.TMPDIR = '/tmp';
    }

    // Local repositories (git clone/fetch/push with ALLOW_FILE_REPOS) arrive here as hostPaths too.
    for (const hp of spec.hostPaths ?? []) {
      const real = realOrResolve(hp.path);
      if (isInside(ws, real) || !existsSync(real)) continue;
      const why = hostPathRefusal(real, spec);
      if (why) throw new SandboxUnavailableError(`sandbox: refusing host path "${hp.path}": it ${why}`);
      args.push(hp.writable ? '--bind' : '--ro-bind', real, real);
    }

    const cwd = spec.cwd;
    if (!isInside(ws, cwd) && !(homeBound !== null && isInside(homeBound, cwd))) {
      throw new SandboxUnavailableError(`sandbox: working directory "${cwd}" is outside the workspace`);
    }

    // Network: never the host's. Network-enabled processes reach the egress proxy only.
    const wantsNet = spec.network === true || allowList.length > 0;
    const netPrefix: string[] = [];
    const egressSocket = spec.network === true && spec.egress !== 'tools' ? socketPath : toolsSocketPath;
    if (wantsNet && !proxyFailed && existsSync(egressSocket)) {
      args.push(
        '--ro-bind',
        egressSocket,
        `${SANDBOX_RUN}/egress.sock`,
        '--ro-bind',
        fwdFile,
        `${SANDBOX_RUN}/netfwd.cjs`,
      );
      netPrefix.push(nodeReal, `${SANDBOX_RUN}/netfwd.cjs`, 'serve', `${SANDBOX_RUN}/egress.sock`);
      if (loopbackPorts.size > 0) netPrefix.push('--mirror', [...loopbackPorts].join(','));
    }

    if (has('--remount-ro')) args.push('--remount-ro', '/dev', '--remount-ro', '/');
    args.push('--chdir', cwd, '--', ...limitPrefix(), ...netPrefix, spec.command, ...spec.args);

    const slot = cgroups?.create() ?? null;
    if (slot && slot.procsFiles.length > 0) {
      return {
        command: '/bin/sh',
        args: [
          '-c',
          cgroupJoinScript(slot.procsFiles.length),
          'sandbox-cgroup',
          ...slot.procsFiles,
          bwrapPath,
          ...args,
        ],
        env: childEnv,
        cwd: '/',
      };
    }
    return { command: bwrapPath, args, env: childEnv, cwd: '/' };
  };

  return {
    kind: 'bwrap',
    limits,
    info,
    wrap,
    allowLoopbackPort(port: number) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port ${port}`);
      loopbackPorts.add(port);
    },
    ready: () => proxyReady,
    async close() {
      process.off('exit', onExit);
      await proxyReady;
      for (const p of proxies) await p.close();
      cgroups?.close();
      rmSync(runtimeDir, { recursive: true, force: true });
    },
  };
}
