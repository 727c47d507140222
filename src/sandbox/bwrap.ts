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
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
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
import { type EgressProxy, FORWARDER_SOURCE, policyFor, startEgressProxy } from './net-policy.ts';
import type { ProcessSpec, SandboxWrapper, WrappedCommand } from './types.ts';

/** uid/gid of the agent inside the sandbox when a user namespace is used. */
export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 1000;

/** Where the egress socket and forwarder appear inside network-enabled sandboxes. */
const SANDBOX_RUN = '/run/duyetbot';

/** Never passed to a sandboxed process, whatever the caller's env says. */
export const SECRET_ENV_NAMES = [
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_AUTH_TOKEN',
  'API_KEYS',
  'SIGNING_SECRET',
  'GITHUB_TOKEN',
  'GH_TOKEN',
  'MCP_AUTH_TOKEN',
  'DATABASE_URL',
  'REDIS_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'PGPASSWORD',
  'NPM_TOKEN',
];
const SECRET_NAME_PATTERN = /(^|_)(SECRET|TOKEN|PASSWORD|PASSWD|API_?KEYS?|PRIVATE_?KEY|CREDENTIALS?)(_|$)/i;
/** Managed by the sandbox itself (the network forwarder sets its own). */
const MANAGED_ENV =
  /^(https?_proxy|all_proxy|no_proxy|NODE_USE_ENV_PROXY|GIT_SSH_COMMAND|GIT_PROXY_COMMAND)$/i;

/** /etc entries a sandbox sees (when they exist). Everything else in /etc is absent. */
const ETC_ALLOW = [
  'hosts',
  'host.conf',
  'resolv.conf',
  'nsswitch.conf',
  'gai.conf',
  'networks',
  'protocols',
  'services',
  'localtime',
  'timezone',
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'alternatives',
  'ssl/certs',
  'ssl/openssl.cnf',
  'ca-certificates',
  'ca-certificates.conf',
  'pki/tls/certs',
  'pki/ca-trust/extracted',
  'crypto-policies',
  'mime.types',
  'magic',
  'magic.mime',
  'os-release',
  'lsb-release',
  'debian_version',
  'bash.bashrc',
  'profile',
  'inputrc',
  'locale.alias',
  'locale.conf',
  'terminfo',
  'ssh/ssh_config',
  'ssh/ssh_config.d',
  'ssh/ssh_known_hosts',
  'vim',
  'perl',
  'manpath.config',
];
/** Directory-name patterns under /etc that language runtimes need (python3.11, java-17-openjdk…). */
const ETC_ALLOW_PATTERN = /^(python3(\.\d+)?|java-\d+-openjdk|java|gitattributes)$/;

export class SandboxUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxUnavailableError';
  }
}

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

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

function realOrResolve(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

function findExecutable(name: string, extra: string[] = []): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...extra];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // next
    }
  }
  return null;
}

const probeCache = new Map<string, { userns: boolean; help: string }>();

function probeBwrap(bwrapPath: string): { userns: boolean; help: string } {
  const cached = probeCache.get(bwrapPath);
  if (cached) return cached;
  const help = spawnSync(bwrapPath, ['--help'], { encoding: 'utf8', timeout: 5000 });
  if (help.error) throw new SandboxUnavailableError(`cannot run ${bwrapPath}: ${help.error.message}`);
  const text = `${help.stdout ?? ''}${help.stderr ?? ''}`;
  const userArgs = ['--unshare-user', '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_GID)];
  if (text.includes('--disable-userns')) userArgs.push('--disable-userns');
  const res = spawnSync(bwrapPath, [...userArgs, '--ro-bind', '/', '/', '--', 'true'], {
    encoding: 'utf8',
    timeout: 5000,
    env: {},
  });
  const out = { userns: res.status === 0, help: text };
  probeCache.set(bwrapPath, out);
  return out;
}

/**
 * The sandbox's /etc: copies of the ETC_ALLOW entries only (symlinks into /usr kept as links,
 * others dereferenced), a synthetic group file and a placeholder passwd (bound per home). Taken
 * once at start-up: host changes to these files reach sandboxes after a restart.
 */
function buildEtc(runtimeDir: string): string {
  const etc = path.join(runtimeDir, 'etc');
  mkdirSync(etc, { mode: 0o755 });
  const names = [...ETC_ALLOW];
  try {
    for (const n of readdirSync('/etc')) if (ETC_ALLOW_PATTERN.test(n)) names.push(n);
  } catch {
    // no /etc listing
  }
  for (const name of names) {
    const src = path.join('/etc', name);
    const dst = path.join(etc, name);
    try {
      const st = lstatSync(src);
      mkdirSync(path.dirname(dst), { recursive: true, mode: 0o755 });
      if (st.isSymbolicLink()) {
        const target = readlinkSync(src);
        if (isInside('/usr', path.resolve(path.dirname(src), target))) symlinkSync(target, dst);
        else cpSync(src, dst, { recursive: true, dereference: true });
      } else if (st.isDirectory()) {
        cpSync(src, dst, { recursive: true, verbatimSymlinks: true });
      } else if (st.isFile()) {
        copyFileSync(src, dst);
      }
    } catch {
      // absent or unreadable: the sandbox goes without it
    }
  }
  writeFileSync(path.join(etc, 'group'), `root:x:0:\nagent:x:${SANDBOX_GID}:\nnogroup:x:65534:\n`, {
    mode: 0o644,
  });
  writeFileSync(path.join(etc, 'passwd'), '', { mode: 0o644 });
  writeFileSync(path.join(etc, 'hostname'), 'sandbox\n', { mode: 0o644 });
  symlinkSync('/proc/self/mounts', path.join(etc, 'mtab'));
  return etc;
}

/** Runtime files bound into sandboxes (synthetic passwd/group, the forwarder, the proxy socket). */
function makeRuntimeDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'duyetbot-sbx-'));
  return realpathSync(dir);
}

function sha(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16);
}

// ---------------------------------------------------------------------------------------------
// the sandbox
// ---------------------------------------------------------------------------------------------

export function createBwrapSandbox(opts: BwrapOptions): BwrapSandbox {
  const env = opts.env ?? process.env;
  const logger = opts.logger;
  const bwrapPath =
    opts.bwrapPath ??
    (env.BWRAP_PATH?.trim() || null) ??
    findExecutable('bwrap', ['/usr/bin', '/usr/local/bin', '/bin']);
  if (bwrapPath && !existsSync(bwrapPath)) throw new SandboxUnavailableError(`${bwrapPath} does not exist`);
  if (!bwrapPath) {
    throw new SandboxUnavailableError('bubblewrap (bwrap) is not installed or not on PATH');
  }
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
  const dataDir = realOrResolve(opts.dataDir);
  const serverDir = realOrResolve(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'));
  const protectedPaths = [
    dataDir,
    path.join(dataDir, 'workspaces'),
    path.join(dataDir, 'homes'),
    serverDir,
    realOrResolve(process.cwd()),
    realOrResolve(os.homedir()),
    '/root',
    '/home',
    '/run',
    '/var',
    '/etc',
    '/usr',
    '/proc',
    '/sys',
    '/dev',
    '/boot',
  ];
  const systemDirs = [
    '/proc',
    '/sys',
    '/dev',
    '/etc',
    '/usr',
    '/bin',
    '/sbin',
    '/lib',
    '/lib64',
    '/boot',
    '/run',
  ];

  /** Why binding `p` (read-write or read-only) would expose something it must not, or null. */
  const unsafeBind = (p: string): string | null => {
    if (!path.isAbsolute(p)) return 'not an absolute path';
    if (p === '/') return 'is the root directory';
    for (const prot of protectedPaths) {
      if (isInside(p, prot)) return `contains ${prot}`;
    }
    for (const s of systemDirs) {
      if (isInside(s, p)) return `is inside ${s}`;
    }
    return null;
  };

  // ----- static part of the command line (same for every process) -------------------------
  const staticArgs: string[] = [];
  if (userns) {
    staticArgs.push('--unshare-user', '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_GID));
    if (has('--disable-userns')) staticArgs.push('--disable-userns');
  }
  staticArgs.push(
    '--unshare-ipc',
    '--unshare-pid',
    '--unshare-uts',
    '--unshare-net',
    '--unshare-cgroup-try',
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--hostname',
    'sandbox',
    '--ro-bind',
    '/usr',
    '/usr',
  );
  for (const d of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const p = `/${d}`;
    try {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) staticArgs.push('--symlink', readlinkSync(p), p);
      else if (st.isDirectory()) staticArgs.push('--ro-bind', p, p);
    } catch {
      // absent on this system
    }
  }
  // /etc: one read-only bind of a sanitized copy (one mount instead of dozens keeps start-up fast).
  const runtimeDir = makeRuntimeDir();
  const etcDir = buildEtc(runtimeDir);
  staticArgs.push('--ro-bind', etcDir, '/etc');
  staticArgs.push('--proc', '/proc', '--dev', '/dev');
  const sized = (bytes: number) => (has('--size') && bytes > 0 ? ['--size', String(bytes)] : []);
  staticArgs.push(...sized(limits.tmpBytes), '--tmpfs', '/tmp');
  staticArgs.push(...sized(limits.tmpBytes), '--tmpfs', '/dev/shm');
  staticArgs.push('--dir', '/var', '--symlink', '/tmp', '/var/tmp');

  // node: its real directory (and npm's, when installed next to it), never a parent like /root.
  const nodeReal = realOrResolve(process.execPath);
  const nodeBin = path.dirname(nodeReal);
  const nodeArgs: string[] = [];
  const underUsr = isInside('/usr', nodeBin) || isInside('/bin', nodeBin);
  if (!underUsr) {
    if (unsafeBind(nodeBin) === null) nodeArgs.push('--ro-bind', nodeBin, nodeBin);
    else nodeArgs.push('--ro-bind', nodeReal, nodeReal);
    const npmDir = path.join(path.dirname(nodeBin), 'lib', 'node_modules');
    if (existsSync(npmDir) && unsafeBind(npmDir) === null) nodeArgs.push('--ro-bind', npmDir, npmDir);
  }
  const execDir = path.dirname(process.execPath);
  if (execDir !== nodeBin && !isInside('/usr', execDir) && !isInside('/bin', execDir)) {
    nodeArgs.push('--ro-bind', nodeReal, path.join(execDir, path.basename(process.execPath)));
  }
  staticArgs.push(...nodeArgs);

  // Operator-provided read-only paths (toolchains in /opt, …).
  for (const raw of (env.SANDBOX_RO_BIND ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const p = realOrResolve(raw);
    const why = unsafeBind(p);
    if (why) throw new SandboxUnavailableError(`SANDBOX_RO_BIND: refusing "${raw}": it ${why}`);
    if (!existsSync(p)) throw new SandboxUnavailableError(`SANDBOX_RO_BIND: "${raw}" does not exist`);
    staticArgs.push('--ro-bind', p, p);
  }

  // ----- runtime directory: synthetic passwd per home, forwarder, egress socket -------------
  const passwdFiles = new Map<string, string>();
  const passwdFor = (home: string): string => {
    let f = passwdFiles.get(home);
    if (f) return f;
    f = path.join(runtimeDir, `passwd-${sha(home)}`);
    const h = home.replace(/[:\n]/g, '_');
    writeFileSync(
      f,
      `root:x:0:0:root:${h}:/bin/bash\nagent:x:${SANDBOX_UID}:${SANDBOX_GID}:agent:${h}:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
      { mode: 0o644 },
    );
    passwdFiles.set(home, f);
    return f;
  };

  const allowList = opts.config.sandboxNetwork;
  const fwdFile = path.join(runtimeDir, 'netfwd.cjs');
  writeFileSync(fwdFile, FORWARDER_SOURCE, { mode: 0o644 });
  const socketPath = path.join(runtimeDir, 'egress.sock');
  let proxy: EgressProxy | null = null;
  let proxyFailed = false;
  const loopbackPorts = new Set<number>();
  const proxyReady: Promise<void> = startEgressProxy({
    socketPath,
    policy: policyFor(allowList),
    loopbackPorts,
    ...(logger ? { logger } : {}),
  }).then(
    (p) => {
      proxy = p;
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

  /** Why `p` (outside the workspace) is part of DATA_DIR: other sessions, the database, the audit log. */
  const otherSession = (p: string, ws: string): string | null =>
    isInside(dataDir, p) && !isInside(ws, p) ? `is inside DATA_DIR (${dataDir})` : null;

  /** Local clone source (ALLOW_FILE_REPOS): read-only, when it is a safe directory. */
  const localCloneSource = (spec: ProcessSpec): string | null => {
    if (!opts.config.allowFileRepos || path.basename(spec.command) !== 'git' || !spec.args.includes('clone'))
      return null;
    const dd = spec.args.lastIndexOf('--');
    const url = dd === -1 ? undefined : spec.args[dd + 1];
    if (!url) return null;
    let p: string;
    if (url.startsWith('file://')) {
      try {
        p = fileURLToPath(url);
      } catch {
        return null;
      }
    } else if (path.isAbsolute(url)) p = url;
    else if (url.startsWith('./') || url.startsWith('../')) p = path.resolve(spec.cwd, url);
    else return null;
    const real = realOrResolve(p);
    try {
      if (!statSync(real).isDirectory()) return null;
    } catch {
      return null;
    }
    if (unsafeBind(real) !== null || otherSession(real, spec.workspace) !== null) return null;
    return real;
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

    const src = localCloneSource(spec);
    if (src && !isInside(ws, src)) args.push('--ro-bind', src, src);
    for (const hp of spec.hostPaths ?? []) {
      const real = realOrResolve(hp.path);
      if (isInside(ws, real) || !existsSync(real)) continue;
      const why = unsafeBind(real) ?? otherSession(real, ws);
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
    if (wantsNet && !proxyFailed && existsSync(socketPath)) {
      args.push(
        '--ro-bind',
        socketPath,
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
      const p = proxy as EgressProxy | null;
      if (p) await p.close();
      cgroups?.close();
      rmSync(runtimeDir, { recursive: true, force: true });
    },
  };
}

/**
 * The child env: the caller's allowlist minus anything secret-looking (by name, or by containing a
 * configured secret's value) and minus the proxy variables the sandbox manages itself.
 */
export function sanitizeEnv(
  env: Record<string, string>,
  config: Pick<
    Config,
    | 'anthropicApiKey'
    | 'apiKeys'
    | 'signingSecret'
    | 'githubToken'
    | 'mcpAuthToken'
    | 'databaseUrl'
    | 'redisUrl'
  >,
): Record<string, string> {
  const secrets = [
    config.anthropicApiKey,
    config.signingSecret,
    config.githubToken,
    config.mcpAuthToken,
    config.databaseUrl,
    config.redisUrl,
    ...config.apiKeys,
  ].filter((s): s is string => typeof s === 'string' && s.length >= 6);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (typeof v !== 'string') continue;
    if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) continue;
    if (SECRET_ENV_NAMES.includes(k.toUpperCase()) || SECRET_NAME_PATTERN.test(k)) continue;
    if (MANAGED_ENV.test(k)) continue;
    if (secrets.some((s) => v.includes(s))) continue;
    out[k] = v;
  }
  return out;
}
