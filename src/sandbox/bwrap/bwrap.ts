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
// Networking never shares the host stack: see ../net/policy.ts. Limits: see limits.ts.
//
// Split by job: probe.ts (finding/probing bwrap), paths.ts (host-path policy), etc.ts (sanitized
// /etc, passwd), args.ts (the command line), identity.ts (who the process is), seccomp.ts, limits.ts
// and sh-limits.ts, env.ts (the child env). This file puts them together and wraps each process.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config.ts';
import type { Logger } from '../../observability/logger.ts';
import { EgressPool } from '../net/egress-pool.ts';
import { FORWARDER_SOURCE, type LookupFn, parseAllowList, policyFor } from '../net/policy.ts';
import type { ProcessSpec, SandboxWrapper, WrappedCommand } from '../types.ts';
import { SandboxUsageMeter } from '../usage.ts';
import { buildStaticArgs, type IdentityMode } from './args.ts';
import { readCgroupUsage } from './cgroup-usage.ts';
import { sanitizeEnv } from './env.ts';
import { buildEtc, makeRuntimeDir, passwdWriter } from './etc.ts';
import {
  checkIdentities,
  dropPrivilegesPrefix,
  findSetpriv,
  identitiesFor,
  type SandboxIdentities,
  type SandboxUser,
} from './identity.ts';
import {
  type CgroupInfo,
  CgroupManager,
  cgroupJoinScript,
  effectiveAddressSpace,
  type Limits,
  prlimitArgs,
  ulimitScript,
} from './limits.ts';
import { createHostPathPolicy, isInside, realOrResolve } from './paths.ts';
import { probeBwrap, resolveBwrapPath, SANDBOX_GID, SANDBOX_UID, SandboxUnavailableError } from './probe.ts';
import { buildSeccompFilter, SeccompUnsupportedError, seccompShellPrefix } from './seccomp.ts';
import { probeShellLimits, shellLimitPrefix } from './sh-limits.ts';

export { sanitizeEnv } from './env.ts';
export { SANDBOX_GID, SANDBOX_UID, SandboxUnavailableError } from './probe.ts';

/** Where the egress socket and forwarder appear inside network-enabled sandboxes. */
const SANDBOX_RUN = '/run/duyetbot';

export interface BwrapOptions {
  config: Config;
  dataDir: string;
  limits?: Partial<Limits>;
  logger?: Logger;
  /** Overrides `config.bwrapPath` (default: `bwrap` on the server's PATH, or /usr/bin/bwrap). */
  bwrapPath?: string;
  /** Name resolution of the egress proxy (tests map names to loopback addresses; default DNS). */
  lookup?: LookupFn;
}

export interface BwrapInfo {
  bwrapPath: string;
  /** How the sandbox's user is made (see args.ts): a user namespace, or a per-session uid on a root server. */
  mode: IdentityMode;
  /** A seccomp filter is applied (seccomp.ts). */
  seccomp: boolean;
  userns: boolean;
  cgroup: CgroupInfo;
  prlimit: boolean;
  /** Limits set by the wrapping sh's ulimit (a root server) instead of a prlimit exec. */
  shellLimits: boolean;
  /** RLIMIT_AS applied (0 = none). */
  addressSpaceBytes: number;
  /** RLIMIT_NPROC applied (only without a pids cgroup, and never effective for uid 0). */
  nproc: boolean;
  runtimeDir: string;
}

export interface BwrapSandbox extends SandboxWrapper {
  readonly kind: 'bwrap';
  readonly limits: Limits;
  readonly info: BwrapInfo;
  /** Per-session host uids (a root server); null when a user namespace maps the server's own uid. */
  readonly identities: SandboxIdentities | null;
  /** What each workspace's process trees used, from their cgroups (absent without one). */
  readonly usage: SandboxUsageMeter;
  /**
   * Makes a host loopback port (e.g. the LLM proxy) reachable from network-enabled sandboxes at
   * the same 127.0.0.1:<port>. Nothing else on the host's loopback ever is. `kind` limits it to the
   * processes of one egress policy (`git`: the server's git processes; `tools`: the model's
   * commands and the Claude Code CLI); default both.
   */
  allowLoopbackPort(port: number, kind?: 'git' | 'tools'): void;
  /** Resolves once the sandbox is usable (kept for callers; gates are created on demand). */
  ready(): Promise<void>;
  /** Open egress gates (per session and policy) and their tunnels, for metrics and tests. */
  egressGates(): Array<{ key: string; refs: number; open: number }>;
  /** Stops the egress proxy, removes cgroups and the runtime directory. */
  close(): Promise<void>;
}

export function createBwrapSandbox(opts: BwrapOptions): BwrapSandbox {
  const logger = opts.logger;
  const bwrapPath = resolveBwrapPath(opts.bwrapPath ?? opts.config.bwrapPath, opts.config.hostPath);
  const probe = probeBwrap(bwrapPath);
  const has = (flag: string) => probe.help.includes(flag);
  const isRoot = process.getuid?.() === 0;
  const userns = probe.userns;
  // A root server never lets a sandboxed process be host uid 0 (identity.ts).
  const mode: IdentityMode = isRoot ? 'drop' : 'userns';
  const identities = identitiesFor(
    {
      uidBase: opts.config.sandboxUidBase,
      uidCount: opts.config.sandboxUidCount,
      gid: opts.config.sandboxGid,
    },
    isRoot,
  );
  const setpriv = identities ? findSetpriv() : null;
  if (identities) {
    if (!setpriv) {
      throw new SandboxUnavailableError(
        'the server runs as root and needs setpriv (util-linux) to run sandboxed processes as an unprivileged uid',
      );
    }
    const why = checkIdentities(identities);
    if (why) throw new SandboxUnavailableError(why);
  } else if (!userns) {
    throw new SandboxUnavailableError(
      `bubblewrap cannot create a user namespace for this (non-root) user${probe.error ? ` (bwrap: ${probe.error})` : ''}: enable unprivileged user namespaces (kernel.unprivileged_userns_clone=1, or an AppArmor profile for bwrap on Ubuntu ≥ 23.10)`,
    );
  }
  const sandboxGid = identities ? identities.gid : SANDBOX_GID;

  const limits: Limits = { ...opts.config.sandboxLimits, ...opts.limits };
  const cgroups = limits.cgroup === 'auto' ? new CgroupManager(limits) : null;
  const cgInfo: CgroupInfo = cgroups?.info ?? { pids: false, memory: false, version: null };
  const addressSpaceBytes = effectiveAddressSpace(limits, cgInfo.memory);
  // Without a pids cgroup, RLIMIT_NPROC (per uid) bounds the process count: the sandbox never runs
  // as uid 0 any more, so the kernel applies it (per session on a root server).
  const nproc = !cgInfo.pids;
  const prlimitPath = ['/usr/bin/prlimit', '/bin/prlimit'].find((p) => existsSync(p)) ?? null;

  // ----- paths a sandbox must never see --------------------------------------------------
  const { unsafeBind, hostPathRefusal } = createHostPathPolicy(opts.dataDir);

  // ----- static part of the command line (same for every process) -------------------------
  const runtimeDir = makeRuntimeDir();
  const etcDir = buildEtc(runtimeDir, sandboxGid);
  const { plan: staticPlan, nodeReal } = buildStaticArgs({
    mode,
    has,
    tmpBytes: limits.tmpBytes,
    etcDir,
    unsafeBind,
    roBind: opts.config.sandboxRoBind,
  });

  // ----- runtime directory: synthetic passwd per home, forwarder, egress socket -------------
  const passwdFor = passwdWriter(runtimeDir);

  // ----- seccomp: the syscalls a coding agent never needs are refused (seccomp.ts) ------------
  let seccompFile: string | null = null;
  if (opts.config.sandboxSeccomp) {
    try {
      seccompFile = path.join(runtimeDir, 'seccomp.bpf');
      writeFileSync(seccompFile, buildSeccompFilter(), { mode: 0o644 });
    } catch (err) {
      if (!(err instanceof SeccompUnsupportedError)) throw err;
      seccompFile = null;
      logger?.warn(`sandbox: ${err.message}; sandboxed processes run WITHOUT a seccomp filter`);
    }
  } else {
    logger?.warn('SANDBOX_SECCOMP=off: sandboxed processes run WITHOUT a seccomp filter (debuggers work)');
  }

  /** A file with `content` in the runtime dir (written once per content), for ProcessSpec.files. */
  const filesDir = path.join(runtimeDir, 'files');
  const serverFile = (content: string, executable = false): string => {
    const hash = createHash('sha256').update(content).digest('hex').slice(0, 24);
    const f = path.join(filesDir, executable ? `${hash}.x` : hash);
    if (!existsSync(f)) {
      mkdirSync(filesDir, { recursive: true, mode: 0o755 });
      writeFileSync(f, content, { mode: executable ? 0o755 : 0o644 });
    }
    return f;
  };

  /** The host uid a process in `workspace` runs as (drop mode): the workspace directory's owner. */
  const userOf = (ws: string): SandboxUser | null => {
    if (!identities) return null;
    let uid: number;
    try {
      uid = statSync(ws).uid;
    } catch (err) {
      throw new SandboxUnavailableError(`sandbox: cannot stat workspace "${ws}": ${(err as Error).message}`);
    }
    if (!identities.owns(uid)) {
      throw new SandboxUnavailableError(
        `sandbox: workspace "${ws}" is owned by uid ${uid}, not by a sandbox uid: on a root server workspaces are created by WorkspaceManager and sandboxed processes never run as root`,
      );
    }
    return identities.userFor(uid);
  };

  const usage = new SandboxUsageMeter();
  const allowList = opts.config.sandboxNetwork;
  const fwdFile = path.join(runtimeDir, 'netfwd.cjs');
  writeFileSync(fwdFile, FORWARDER_SOURCE, { mode: 0o644 });
  // Host loopback ports mirrored into network-enabled sandboxes (the LLM proxy), checked per request.
  const loopbackPorts = { git: new Set<number>(), tools: new Set<number>() };
  // Egress gates, one per session and policy (../net/egress-pool.ts). `git` (clone/fetch/push): the
  // hosts of SANDBOX_NETWORK_ALLOW, or any public host when it is empty. `tools` (processes that
  // run the model's commands, the Claude Code CLI): the allowlist only, never "any public host".
  const egress = new EgressPool({
    dir: path.join(runtimeDir, 'egress'),
    policies: { git: policyFor(allowList), tools: parseAllowList(allowList) },
    loopbackPorts,
    maxTunnels: opts.config.sandboxEgressMaxTunnels,
    idleTimeoutMs: opts.config.sandboxEgressIdleMs,
    ...(logger ? { logger } : {}),
    ...(opts.lookup ? { lookup: opts.lookup } : {}),
  });

  // The runtime dir holds nothing secret, but do not leave it behind when the server exits.
  const onExit = () => {
    rmSync(runtimeDir, { recursive: true, force: true });
    cgroups?.close();
  };
  process.once('exit', onExit);

  // On a root server the wrapping `sh` sets the limits itself (sh-limits.ts): one exec less per process.
  const shLimits = identities ? probeShellLimits() : null;
  const shLimitPrefix = shLimits ? shellLimitPrefix(shLimits, limits, { addressSpaceBytes, nproc }) : '';

  const info: BwrapInfo = {
    bwrapPath,
    mode,
    seccomp: seccompFile !== null,
    userns,
    cgroup: cgInfo,
    prlimit: prlimitPath !== null,
    shellLimits: shLimits !== null,
    addressSpaceBytes,
    nproc,
    runtimeDir,
  };

  const limitPrefix = (): string[] => {
    if (shLimits) return [];
    const o = { addressSpaceBytes, nproc };
    if (prlimitPath) return [prlimitPath, ...prlimitArgs(limits, o), '--'];
    return ['/bin/sh', '-c', ulimitScript(limits, o), 'sandbox-limits'];
  };

  const wrap = (spec: ProcessSpec): WrappedCommand => {
    const ws = spec.workspace;
    // Judge what the bind would really expose (a symlinked workspace path binds its target).
    const wsWhy = unsafeBind(ws) ?? unsafeBind(realOrResolve(ws));
    if (wsWhy) throw new SandboxUnavailableError(`sandbox: refusing workspace "${ws}": it ${wsWhy}`);
    const childEnv = { ...sanitizeEnv(spec.env, opts.config), ...spec.operatorEnv };
    const cwd = spec.cwd;
    if (!isInside(ws, cwd) && !(childEnv.HOME !== undefined && isInside(childEnv.HOME, cwd))) {
      throw new SandboxUnavailableError(`sandbox: working directory "${cwd}" is outside the workspace`);
    }
    const user = userOf(ws);

    const plan = staticPlan.fork();
    plan.bind('--bind', ws, ws);

    // HOME: the per-session home read-write; anything unsafe (or, on a root server, not owned by
    // the session's uid) becomes a private directory in /tmp.
    let homeBound: string | null = null;
    const home = childEnv.HOME;
    if (home && path.isAbsolute(home) && !isInside(ws, home)) {
      let ok = unsafeBind(home) === null && unsafeBind(realOrResolve(home)) === null;
      try {
        const st = statSync(home);
        ok = ok && st.isDirectory() && (user === null || st.uid === user.uid);
      } catch {
        ok = false;
      }
      if (ok) {
        plan.bind('--bind', home, home);
        homeBound = home;
      } else {
        childEnv.HOME = '/tmp';
      }
    }
    const effHome = childEnv.HOME ?? '/tmp';
    plan.bind('--ro-bind', passwdFor(effHome, user ?? { uid: SANDBOX_UID, gid: SANDBOX_GID }), '/etc/passwd');
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

    for (const f of spec.files ?? []) {
      if (!isInside(SANDBOX_RUN, f.dest) || f.dest === SANDBOX_RUN || f.dest.includes('\0'))
        throw new SandboxUnavailableError(
          `sandbox: a server file must go under ${SANDBOX_RUN}, not "${f.dest}"`,
        );
      plan.bind('--ro-bind', serverFile(f.content, f.executable === true), f.dest);
    }

    // Local repositories (git clone/fetch/push with ALLOW_FILE_REPOS) arrive here as hostPaths too.
    for (const hp of spec.hostPaths ?? []) {
      const real = realOrResolve(hp.path);
      if (isInside(ws, real) || !existsSync(real)) continue;
      const why = hostPathRefusal(real, spec);
      if (why) throw new SandboxUnavailableError(`sandbox: refusing host path "${hp.path}": it ${why}`);
      plan.bind(hp.writable ? '--bind' : '--ro-bind', real, real);
    }

    if (!isInside(ws, cwd) && !(homeBound !== null && isInside(homeBound, cwd))) {
      throw new SandboxUnavailableError(`sandbox: working directory "${cwd}" is outside the workspace`);
    }

    // Network: never the host's. Network-enabled processes reach their session's egress gate only.
    const wantsNet = spec.network === true || allowList.length > 0;
    const netPrefix: string[] = [];
    let release: (() => void) | undefined;
    if (wantsNet) {
      const kind = spec.network === true && spec.egress !== 'tools' ? 'git' : 'tools';
      const gate = egress.acquire(ws, kind);
      release = gate.release;
      plan.bind('--ro-bind', gate.socketPath, `${SANDBOX_RUN}/egress.sock`);
      plan.bind('--ro-bind', fwdFile, `${SANDBOX_RUN}/netfwd.cjs`);
      netPrefix.push(nodeReal, `${SANDBOX_RUN}/netfwd.cjs`, 'serve', `${SANDBOX_RUN}/egress.sock`);
      const mirrored = loopbackPorts[kind];
      if (mirrored.size > 0) netPrefix.push('--mirror', [...mirrored].join(','));
    }

    const args = plan.args;
    if (has('--remount-ro')) args.push('--remount-ro', '/dev', '--remount-ro', '/');
    if (seccompFile) args.push('--seccomp', '3');
    const drop = user && setpriv ? dropPrivilegesPrefix(setpriv, user) : [];
    args.push('--chdir', cwd, '--', ...drop, ...limitPrefix(), ...netPrefix, spec.command, ...spec.args);

    // A small `sh` in front of bwrap opens the seccomp program as fd 3 (afresh for every process:
    // bwrap reads it to the end) and joins the process tree's cgroups before exec'ing bwrap.
    const slot = cgroups?.create() ?? null;
    const procs = slot?.procsFiles ?? [];
    // Once the tree has exited, its cgroup's figures join the workspace's tally (the run's).
    const gateRelease = release;
    const tally = slot
      ? () => {
          gateRelease?.();
          usage.record(ws, readCgroupUsage(slot.accounting));
        }
      : gateRelease;
    const done = tally ? { release: tally } : {};
    if (!seccompFile && procs.length === 0 && !shLimitPrefix)
      return { command: bwrapPath, args, env: childEnv, cwd: '/', ...done };
    const script =
      (seccompFile ? seccompShellPrefix(seccompFile) : '') +
      shLimitPrefix +
      (procs.length > 0 ? cgroupJoinScript(procs.length) : 'exec "$@"');
    return {
      command: '/bin/sh',
      args: ['-c', script, 'sandbox', ...procs, bwrapPath, ...args],
      env: childEnv,
      cwd: '/',
      ...done,
    };
  };

  return {
    kind: 'bwrap',
    limits,
    info,
    identities,
    wrap,
    usage,
    allowLoopbackPort(port: number, kind?: 'git' | 'tools') {
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port ${port}`);
      if (kind !== 'tools') loopbackPorts.git.add(port);
      if (kind !== 'git') loopbackPorts.tools.add(port);
    },
    ready: async () => {},
    egressGates: () => egress.snapshot(),
    async close() {
      process.off('exit', onExit);
      await egress.close();
      cgroups?.close();
      rmSync(runtimeDir, { recursive: true, force: true });
    },
  };
}
