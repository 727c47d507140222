// deploy/seccomp/bwrap.json — the seccomp profile a container needs so that bubblewrap (and so the
// server's sandbox) works inside it — applied the way a container runtime applies it: compiled to
// BPF (./seccomp-bpf.ts) and installed on the process tree of the server's start-up sandbox check,
// which runs as uid 10001 without capabilities, like the image's `agent` user. Root here only
// builds that environment (an outer bubblewrap that loads the filter, then setpriv drops to 10001).
// - with the profile, the check passes;
// - with Docker's default treatment of the namespace syscalls (clone without namespace flags;
//   unshare, mount, umount2, pivot_root refused without CAP_SYS_ADMIN) it fails: that is why the
//   profile exists;
// - with /proc partly over-mounted read-only, as Docker does unless `systempaths=unconfined`, the
//   fresh /proc of the sandbox cannot be mounted: that is why the deploy files set it.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { compileProfile, type SeccompProfile, X64_SYSCALLS } from './seccomp-bpf.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PROFILE: SeccompProfile = JSON.parse(
  readFileSync(path.join(ROOT, 'deploy/seccomp/bwrap.json'), 'utf8'),
);
const isRoot = process.getuid?.() === 0;
const AGENT = 10001;

const allowedNames = () => new Set(PROFILE.syscalls.flatMap((r) => (r.args ? [] : r.names)));

/** Docker's default for these calls without CAP_SYS_ADMIN, in place of the profile's unconditional allow. */
function dockerDefaultTreatment(p: SeccompProfile): SeccompProfile {
  const gated = new Set(['clone', 'clone3', 'unshare', 'mount', 'umount2', 'pivot_root']);
  const CLONE_NAMESPACE_FLAGS = 0x7e020000; // NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
  return {
    ...p,
    syscalls: [
      ...p.syscalls.map((r) => ({ ...r, names: r.names.filter((n) => !gated.has(n)) })),
      {
        names: ['clone'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      },
      // ENOSYS, not EPERM: the C library then falls back to clone()
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
    ],
  };
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'seccomp-profile-'));
chmodSync(scratch, 0o755); // uid 10001 walks through it
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs the sandbox self-test as uid 10001 under `profile`; `maskProc` over-mounts /proc like Docker. */
function selfTestUnder(profile: SeccompProfile, o: { maskProc?: boolean } = {}) {
  const dir = mkdtempSync(path.join(scratch, 'run-'));
  const bpf = path.join(dir, 'filter.bpf');
  writeFileSync(bpf, compileProfile(profile));
  const dataDir = mkdtempSync(path.join(dir, 'data-'));
  chownSync(dataDir, AGENT, AGENT);
  chownSync(dir, AGENT, AGENT);
  const node = realpathSync(process.execPath);
  const fd = openSync(bpf, 'r');
  const mask = o.maskProc
    ? ['--ro-bind', '/proc/sys', '/proc/sys', '--ro-bind', '/dev/null', '/proc/timer_list']
    : [];
  const r = spawnSync(
    'bwrap',
    [
      '--dev-bind',
      '/',
      '/', // devices too (plain --bind is nodev)
      '--tmpfs',
      '/mnt',
      '--ro-bind',
      node,
      '/mnt/node',
      ...mask,
      '--cap-add',
      'ALL',
      '--seccomp',
      '3', // the filter file, given to the child as its fd 3
      '--',
      'setpriv',
      `--reuid=${AGENT}`,
      `--regid=${AGENT}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--',
      '/mnt/node',
      path.join(ROOT, 'test/deploy/fixtures/sandbox-selftest.ts'),
      dataDir,
    ],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe', fd],
      timeout: 60_000,
      cwd: dir,
      env: { PATH: '/usr/bin:/bin', TMPDIR: dir, HOME: dir },
    },
  );
  closeSync(fd);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('deploy/seccomp/bwrap.json', () => {
  it('is a Docker seccomp profile: default EPERM, native architectures only, allow rules by name', () => {
    expect(PROFILE.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(PROFILE.defaultErrnoRet).toBe(1);
    expect(PROFILE.archMap?.map((a) => a.architecture)).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64']);
    for (const r of PROFILE.syscalls) {
      expect(r.action).toBe('SCMP_ACT_ALLOW');
      expect(new Set(r.names).size).toBe(r.names.length);
    }
  });

  it('allows what bubblewrap needs and refuses what a container never should', () => {
    const allowed = allowedNames();
    for (const n of [
      'clone',
      'clone3',
      'unshare',
      'mount',
      'umount2',
      'pivot_root',
      'chroot',
      'seccomp',
      'prctl',
    ])
      expect(allowed.has(n), n).toBe(true);
    for (const n of [
      'setns',
      'open_by_handle_at',
      'name_to_handle_at',
      'kexec_load',
      'init_module',
      'finit_module',
      'bpf',
      'perf_event_open',
      'keyctl',
      'add_key',
      'userfaultfd',
      'io_uring_setup',
      'ptrace',
      'process_vm_readv',
      'reboot',
      'swapon',
      'mount_setattr',
      'fsopen',
      'move_mount',
      'open_tree',
      'syslog',
      'clock_settime',
    ])
      expect(allowed.has(n), n).toBe(false);
    // personality only with the values Docker allows
    const p = PROFILE.syscalls.filter((r) => r.names.includes('personality'));
    expect(p.map((r) => r.args?.[0]?.value).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([
      0, 8, 0x20000, 0x20008, 0xffffffff,
    ]);
    // the common x86_64 calls are there (a name missing here would make every program fail)
    for (const n of [
      'read',
      'write',
      'openat',
      'execve',
      'mmap',
      'futex',
      'epoll_pwait',
      'rseq',
      'statx',
      'fchmodat2',
    ])
      expect(allowed.has(n), n).toBe(true);
    expect(Object.keys(X64_SYSCALLS).length).toBeGreaterThan(350);
  });

  describe.skipIf(!HAS_BWRAP || !isRoot)('applied to the sandbox check as uid 10001', () => {
    it('the server sandbox works under the profile', () => {
      const r = selfTestUnder(PROFILE);
      expect(r.out).toContain('sandbox ok');
      expect(r.status).toBe(0);
    });

    it('it does not under Docker’s default treatment of clone/unshare/mount/pivot_root', () => {
      const r = selfTestUnder(dockerDefaultTreatment(PROFILE));
      expect(r.status).toBe(1);
      // bwrap's own reason, and how to fix it in a container
      expect(r.out).toMatch(
        /cannot create a user namespace .*\(bwrap: .*(Operation not permitted|No permissions)/,
      );
      expect(r.out).toContain('--security-opt seccomp=deploy/seccomp/bwrap.json');
    });

    it('it does not with /proc masked the way Docker masks it (hence systempaths=unconfined)', () => {
      const r = selfTestUnder(PROFILE, { maskProc: true });
      expect(r.status).toBe(1);
      // /proc/sys read-only: bubblewrap can neither limit nested user namespaces nor mount a fresh /proc
      expect(r.out).toMatch(/\(bwrap: .*(max_user_namespaces|proc)/);
      expect(r.out).toContain('systempaths=unconfined');
    });
  });
});
