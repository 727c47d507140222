// Who a sandboxed process is on the host.
//
// A server that is not root runs bubblewrap as itself with a user namespace: inside, the agent is
// uid 1000; on the host it is the server's own unprivileged uid.
//
// A server that runs as root must never let a sandboxed process be host uid 0. `bwrap
// --unshare-user --uid 1000` started by root maps the sandbox's uid 1000 to host uid 0, and a
// process that is host uid 0 may write root-owned files it can reach — /proc/sys/kernel/core_pattern
// among them (a pipe helper there runs as host root). So a root server gives every session its own
// unprivileged host uid from a dedicated range (`SANDBOX_UID_BASE` … + `SANDBOX_UID_COUNT`), owns the
// session's workspace and home by it, and drops to it (setpriv, after bwrap has set up the mounts)
// before the agent's command starts. Sessions are then also separated by the kernel's own
// permission checks, not only by mount namespaces. Every sandbox process shares one group
// (`SANDBOX_GID`), which operators can use to grant access to shared local remotes.
//
// The uid of a session is recorded where it cannot be forged: the owner of its workspace
// directory. The directory is created by the server; inside the sandbox it is a mount point the
// agent cannot replace, and without CAP_CHOWN it cannot give it away.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SandboxUser {
  uid: number;
  gid: number;
}

export interface IdentitySettings {
  uidBase: number;
  uidCount: number;
  gid: number;
}

export class SandboxIdentities {
  /** Group of every sandboxed process. */
  readonly gid: number;
  /** For sandboxed processes that belong to no session (the start-up self-test). */
  readonly probeUid: number;
  /** Session uids: [first, last]. */
  readonly first: number;
  readonly last: number;

  constructor(s: IdentitySettings) {
    this.gid = s.gid;
    this.probeUid = s.uidBase;
    this.first = s.uidBase + 1;
    this.last = s.uidBase + s.uidCount - 1;
  }

  /** Whether `uid` is one this server hands to sandboxes. */
  owns(uid: number): boolean {
    return uid >= this.probeUid && uid <= this.last;
  }

  /** The lowest session uid not in `taken`; throws when the range is exhausted. */
  pick(taken: ReadonlySet<number>): number {
    for (let uid = this.first; uid <= this.last; uid++) if (!taken.has(uid)) return uid;
    throw new Error(
      `no free sandbox uid: all ${this.last - this.first + 1} uids of SANDBOX_UID_BASE/SANDBOX_UID_COUNT are in use by workspaces`,
    );
  }

  userFor(uid: number): SandboxUser {
    return { uid, gid: this.gid };
  }
}

/** Per-session uids when the server is root; null otherwise (bubblewrap's user namespace does it). */
export function identitiesFor(settings: IdentitySettings, isRoot: boolean): SandboxIdentities | null {
  return isRoot ? new SandboxIdentities(settings) : null;
}

function readSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Why the range cannot be used here, or null. It must not contain a uid of an existing account
 * (a sandbox would get that account's files and processes) and must be mapped in this user
 * namespace (a container with a 65536-id map cannot chown to ids outside it).
 */
export function checkIdentities(ids: SandboxIdentities): string | null {
  const lo = ids.probeUid;
  const hi = ids.last;
  const accounts = readSafe('/etc/passwd')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length > 3 && Number(f[2]) >= lo && Number(f[2]) <= hi);
  if (accounts.length > 0) {
    return `SANDBOX_UID_BASE/SANDBOX_UID_COUNT (${lo}–${hi}) contain the uid of account "${accounts[0]![0]}" (${accounts[0]![2]}): choose a range no account uses`;
  }
  const map = readSafe('/proc/self/uid_map')
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number));
  const mapped = (uid: number) =>
    map.some((m) => m.length === 3 && uid >= (m[0] ?? 0) && uid < (m[0] ?? 0) + (m[2] ?? 0));
  if (map.length > 0 && (!mapped(lo) || !mapped(hi) || !mapped(ids.gid))) {
    return `SANDBOX_UID_BASE/SANDBOX_UID_COUNT (${lo}–${hi}) or SANDBOX_GID (${ids.gid}) are not mapped in this user namespace (/proc/self/uid_map): choose ids inside it`;
  }
  // Prove the kernel accepts the ids (e.g. a filesystem that rejects large ids).
  const dir = mkdtempSync(path.join(os.tmpdir(), 'duyetbot-uid-check-'));
  try {
    chownSync(dir, hi, ids.gid);
  } catch (err) {
    return `cannot give files to sandbox uid ${hi} / gid ${ids.gid}: ${(err as Error).message}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return null;
}

/** setpriv (util-linux), required on a root server to drop to the session's uid. */
export function findSetpriv(): string | null {
  for (const p of ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv']) if (existsSync(p)) return p;
  try {
    const out = execFileSync('sh', ['-c', 'command -v setpriv'], { encoding: 'utf8' }).trim();
    return out || null;
  } catch {
    return null;
  }
}

/**
 * The command prefix that turns the (root, capability-less except for these) process bwrap starts
 * into the session's user: real/effective/saved uid and gid, no supplementary groups, every
 * capability set emptied (bounding and ambient too) and no_new_privs, so nothing it execs can
 * gain a privilege back.
 */
export function dropPrivilegesPrefix(setpriv: string, user: SandboxUser): string[] {
  return [
    setpriv,
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--ambient-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--',
  ];
}

/**
 * Capabilities bwrap keeps for that prefix (root server only): setuid/setgid to drop, setpcap to
 * clear the bounding set, dac_read_search so bwrap can `--chdir` into the session's 0700 directory.
 * All are gone once setpriv has changed the uid (the kernel clears them on a switch away from 0).
 */
export const ROOT_MODE_CAPS = ['CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_DAC_READ_SEARCH'] as const;
