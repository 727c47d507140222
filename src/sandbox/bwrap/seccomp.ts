// The seccomp filter every sandboxed process runs under (bwrap `--seccomp FD`): a classic-BPF
// program, generated here (no libseccomp), that refuses the syscalls a coding agent never needs and
// that carry most of the kernel's attack surface reachable from an unprivileged process. It is a
// DENY list (default: allow): the sandbox runs arbitrary toolchains, and an allow list would break
// them with every new kernel and libc.
//
// Foreign ABIs: the filter keys on syscall numbers, which differ per ABI. A 64-bit x86 process can
// still enter the kernel through `int 0x80` (i386 numbers, AUDIT_ARCH_I386) or with the x32 bit set
// (nr | 0x40000000), where e.g. i386 `keyctl` is 288, not 250 — a filter keyed only on x86_64
// numbers would let both through. So any non-native arch, and x32, KILLS the process (SIGSYS,
// "Bad system call"). Not ERRNO: a 32-bit binary whose every syscall (exit included) fails can
// spin instead of dying, and nothing legitimate in the sandbox uses those ABIs.
//
// Byte layout (<linux/filter.h>, host order; both supported arches are little-endian):
//   struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }
//   struct seccomp_data { u32 nr @0; u32 arch @4; u64 ip @8; u64 args[6] @16 }
// Arguments are compared on their low 32 bits (@16 + 8i): every argument we inspect is an `int` or
// `unsigned int` in the kernel, which ignores the upper half too.

export type SeccompArch = 'x64' | 'arm64';
export type SeccompErrno = 'EPERM' | 'ENOSYS' | 'EAFNOSUPPORT';

/** Which calls of a syscall are refused (argument `arg` compared on its low 32 bits). */
export type SeccompMatch =
  | { kind: 'always' }
  /** Refused when any bit of `mask` is set. */
  | { kind: 'anyBit'; arg: number; mask: number }
  /** Refused when the argument is one of `values`. */
  | { kind: 'oneOf'; arg: number; values: readonly number[] }
  /** Refused unless the argument is one of `values`. */
  | { kind: 'noneOf'; arg: number; values: readonly number[] };

export interface SeccompDenial {
  name: string;
  errno: SeccompErrno;
  /** When only some calls are refused: the condition in words (see `match`). */
  when?: string;
  why: string;
  match: SeccompMatch;
  /** Only on these architectures (the syscall does not exist elsewhere). */
  arches?: readonly SeccompArch[];
}

export class SeccompUnsupportedError extends Error {
  constructor(arch: string) {
    super(`seccomp: no filter for architecture "${arch}" (supported: x64, arm64)`);
    this.name = 'SeccompUnsupportedError';
  }
}

const ERRNO_VALUE: Record<SeccompErrno, number> = { EPERM: 1, ENOSYS: 38, EAFNOSUPPORT: 97 };

// <linux/audit.h>: EM_X86_64 / EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
export const AUDIT_ARCH: Record<SeccompArch, number> = { x64: 0xc000003e, arm64: 0xc00000b7 };
/** x86_64: syscall numbers with this bit set are the x32 ABI. */
export const X32_SYSCALL_BIT = 0x40000000;

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
/** BPF_MAXINSNS: the kernel refuses longer programs. */
export const BPF_MAXINSNS = 4096;

const always = { kind: 'always' } as const;
// <linux/sched.h>: NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET. Not CLONE_NEWTIME
// (0x80): in clone()'s flags that bit belongs to the exit signal (CSIGNAL); NEWTIME is clone3-only.
const CLONE_NEW_ANY = 0x7e020000;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;
// <sys/personality.h>: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query value.
const PERSONALITY_ALLOWED = [0, 0x8, 0x20000, 0x20008, 0xffffffff];
// AF_UNIX, AF_INET, AF_INET6, AF_NETLINK (getifaddrs, `ip`).
const SOCKET_FAMILIES_ALLOWED = [1, 2, 10, 16];

const deny = (names: string[], errno: SeccompErrno, why: string, arches?: readonly SeccompArch[]) =>
  names.map((name): SeccompDenial => ({ name, errno, why, match: always, ...(arches ? { arches } : {}) }));

/** The policy, as data (docs, /health). Everything not listed here is allowed. */
export const SECCOMP_DENIED: readonly SeccompDenial[] = [
  ...deny(
    ['add_key', 'keyctl', 'request_key'],
    'EPERM',
    'kernel keyrings: kernel-wide state with a long CVE history; no coding tool needs them',
  ),
  ...deny(
    ['ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'pidfd_getfd', 'process_madvise'],
    'EPERM',
    "inspecting or changing another process's memory or file descriptors (debuggers, strace): one " +
      'tool could read the secrets of another; Docker gates these behind CAP_SYS_PTRACE',
  ),
  ...deny(
    ['init_module', 'finit_module', 'delete_module', 'kexec_load', 'kexec_file_load'],
    'EPERM',
    'loading kernel code or a new kernel',
  ),
  ...deny(
    // biome-ignore format: a list
    ['mount', 'umount2', 'pivot_root', 'chroot', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount',
      'open_tree', 'open_tree_attr', 'mount_setattr'],
    'EPERM',
    'changing the file system view bwrap built (the new mount API included: CVE-2021-41133)',
  ),
  ...deny(
    ['unshare', 'setns'],
    'EPERM',
    'new or other namespaces: user namespaces re-grant capabilities and expose kernel code ' +
      'otherwise reachable only by root (netfilter, mounts of many file systems)',
  ),
  {
    name: 'clone',
    errno: 'EPERM',
    when: 'flags contain any CLONE_NEW* namespace flag',
    why: 'namespaces through clone(); plain fork and thread creation stay allowed',
    match: { kind: 'anyBit', arg: 0, mask: CLONE_NEW_ANY },
  },
  ...deny(
    ['clone3'],
    'ENOSYS',
    'its flags live in a struct seccomp cannot read, so namespace flags cannot be refused; glibc ' +
      'and others fall back to clone() on ENOSYS, whose flags are checked',
  ),
  ...deny(
    ['userfaultfd'],
    'EPERM',
    'stalls kernel page faults at will: the standard tool to widen race windows in kernel exploits',
  ),
  ...deny(['perf_event_open'], 'EPERM', 'performance counters: large kernel surface, side channels'),
  ...deny(['bpf'], 'EPERM', 'eBPF programs run in the kernel; a long line of verifier CVEs'),
  ...deny(
    ['io_uring_setup', 'io_uring_enter', 'io_uring_register'],
    'ENOSYS',
    'operations submitted through the ring are invisible to seccomp, and io_uring is a frequent ' +
      'source of kernel CVEs; libuv and other users fall back to plain syscalls on ENOSYS',
  ),
  ...deny(
    ['swapon', 'swapoff', 'reboot', 'acct', 'quotactl', 'quotactl_fd', 'vhangup'],
    'EPERM',
    'host administration',
  ),
  ...deny(
    ['settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex'],
    'EPERM',
    'setting the host clock (adjtimex and clock_adjtime also read it; nothing needs that)',
  ),
  ...deny(['syslog'], 'EPERM', 'the kernel log leaks kernel addresses and host activity'),
  ...deny(['lookup_dcookie'], 'EPERM', 'oprofile-era path lookup, unused'),
  ...deny(['iopl', 'ioperm'], 'EPERM', 'raw I/O port access', ['x64']),
  ...deny(
    ['modify_ldt'],
    'EPERM',
    '16-bit segments: unused by 64-bit code, a historic source of kernel bugs',
    ['x64'],
  ),
  ...deny(['uselib'], 'EPERM', 'a.out-era library loading, unused', ['x64']),
  ...deny(
    ['open_by_handle_at'],
    'EPERM',
    'opens files by handle, bypassing the mount namespace (the "shocker" container escape); ' +
      'name_to_handle_at stays allowed: it only names files already visible',
  ),
  ...deny(['fanotify_init'], 'EPERM', 'file-system-wide event monitoring'),
  ...deny(
    ['mbind', 'set_mempolicy', 'migrate_pages', 'move_pages', 'set_mempolicy_home_node'],
    'EPERM',
    'NUMA placement, including of other processes; Docker refuses them without CAP_SYS_NICE',
  ),
  {
    name: 'personality',
    errno: 'EPERM',
    when: 'persona not 0, 0x8, 0x20000, 0x20008 or 0xffffffff (query)',
    why: 'ADDR_NO_RANDOMIZE and other personas weaken exploit mitigations (Docker allows the same values)',
    match: { kind: 'noneOf', arg: 0, values: PERSONALITY_ALLOWED },
  },
  {
    name: 'ioctl',
    errno: 'EPERM',
    when: 'request is TIOCSTI (0x5412) or TIOCLINUX (0x541c)',
    why: 'typing into the controlling terminal (CVE-2017-5226, CVE-2023-28100)',
    match: { kind: 'oneOf', arg: 1, values: [TIOCSTI, TIOCLINUX] },
  },
  {
    name: 'socket',
    errno: 'EAFNOSUPPORT',
    when: 'family not AF_UNIX, AF_INET, AF_INET6 or AF_NETLINK',
    why: 'rarely used protocol families (AF_VSOCK, AF_ALG, AF_PACKET, …) are a steady source of kernel CVEs (as Flatpak)',
    match: { kind: 'noneOf', arg: 0, values: SOCKET_FAMILIES_ALLOWED },
  },
];

/**
 * Syscall numbers of every syscall the policy names: arch/x86/entry/syscalls/syscall_64.tbl and
 * include/uapi/asm-generic/unistd.h (aarch64). Checked against the headers by the tests.
 */
// biome-ignore format: a table
export const SYSCALL_NUMBERS: Record<SeccompArch, Readonly<Record<string, number>>> = {
  x64: {
    ioctl: 16, socket: 41, clone: 56, ptrace: 101, syslog: 103, uselib: 134, personality: 135,
    vhangup: 153, modify_ldt: 154, pivot_root: 155, adjtimex: 159, chroot: 161, acct: 163,
    settimeofday: 164, mount: 165, umount2: 166, swapon: 167, swapoff: 168, reboot: 169, iopl: 172,
    ioperm: 173, init_module: 175, delete_module: 176, quotactl: 179, lookup_dcookie: 212,
    clock_settime: 227, mbind: 237, set_mempolicy: 238, kexec_load: 246, add_key: 248,
    request_key: 249, keyctl: 250, migrate_pages: 256, unshare: 272, move_pages: 279,
    perf_event_open: 298, fanotify_init: 300, open_by_handle_at: 304, clock_adjtime: 305, setns: 308,
    process_vm_readv: 310, process_vm_writev: 311, kcmp: 312, finit_module: 313, kexec_file_load: 320,
    bpf: 321, userfaultfd: 323, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
    open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433,
    clone3: 435, pidfd_getfd: 438, process_madvise: 440, mount_setattr: 442, quotactl_fd: 443,
    set_mempolicy_home_node: 450, open_tree_attr: 467,
  },
  arm64: {
    lookup_dcookie: 18, ioctl: 29, umount2: 39, mount: 40, pivot_root: 41, chroot: 51, vhangup: 58,
    quotactl: 60, acct: 89, personality: 92, unshare: 97, kexec_load: 104, init_module: 105,
    delete_module: 106, clock_settime: 112, syslog: 116, ptrace: 117, reboot: 142, settimeofday: 170,
    adjtimex: 171, socket: 198, add_key: 217, request_key: 218, keyctl: 219, clone: 220, swapon: 224,
    swapoff: 225, mbind: 235, set_mempolicy: 237, migrate_pages: 238, move_pages: 239,
    perf_event_open: 241, fanotify_init: 262, open_by_handle_at: 265, clock_adjtime: 266, setns: 268,
    process_vm_readv: 270, process_vm_writev: 271, kcmp: 272, finit_module: 273, bpf: 280,
    userfaultfd: 282, kexec_file_load: 294, io_uring_setup: 425, io_uring_enter: 426,
    io_uring_register: 427, open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432,
    fspick: 433, clone3: 435, pidfd_getfd: 438, process_madvise: 440, mount_setattr: 442,
    quotactl_fd: 443, set_mempolicy_home_node: 450, open_tree_attr: 467,
  },
};

/** The seccomp arch for a Node architecture, or null when there is no filter for it. */
export function seccompArch(arch: string): SeccompArch | null {
  return arch === 'x64' || arch === 'arm64' ? arch : null;
}

/** The policy entries that apply on `arch`. */
export function deniedOn(arch: SeccompArch): SeccompDenial[] {
  return SECCOMP_DENIED.filter((d) => !d.arches || d.arches.includes(arch));
}

// ---------------------------------------------------------------------------------------------
// A tiny classic-BPF assembler: labels, so that forward jumps are computed (and checked to fit
// the 8-bit jt/jf fields) instead of counted by hand.
// ---------------------------------------------------------------------------------------------

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_JSET_K = 0x45;
const BPF_RET_K = 0x06;

/** A jump target: a label, or `next` for the following instruction. */
type Target = string;
const NEXT: Target = '';

interface Insn {
  code: number;
  jt: Target;
  jf: Target;
  k: number;
}

export class BpfAssembler {
  private readonly insns: Insn[] = [];
  private readonly labels = new Map<string, number>();

  label(name: string): this {
    if (name === NEXT || this.labels.has(name)) throw new Error(`seccomp: bad or duplicate label "${name}"`);
    this.labels.set(name, this.insns.length);
    return this;
  }
  /** A = u32 at `offset` in seccomp_data. */
  load(offset: number): this {
    return this.push(BPF_LD_W_ABS, NEXT, NEXT, offset);
  }
  jeq(k: number, jt: Target, jf: Target = NEXT): this {
    return this.push(BPF_JEQ_K, jt, jf, k);
  }
  jge(k: number, jt: Target, jf: Target = NEXT): this {
    return this.push(BPF_JGE_K, jt, jf, k);
  }
  jset(k: number, jt: Target, jf: Target = NEXT): this {
    return this.push(BPF_JSET_K, jt, jf, k);
  }
  ret(k: number): this {
    return this.push(BPF_RET_K, NEXT, NEXT, k);
  }

  /** The `struct sock_filter[]` bytes; throws when a jump does not fit or the program is too long. */
  assemble(): Buffer {
    const n = this.insns.length;
    if (n === 0 || n > BPF_MAXINSNS)
      throw new Error(`seccomp: program length ${n} not in 1..${BPF_MAXINSNS}`);
    if (this.insns[n - 1]?.code !== BPF_RET_K) throw new Error('seccomp: program must end with a return');
    const out = Buffer.alloc(n * 8);
    this.insns.forEach((insn, i) => {
      out.writeUInt16LE(insn.code, i * 8);
      out.writeUInt8(this.offset(i, insn.jt), i * 8 + 2);
      out.writeUInt8(this.offset(i, insn.jf), i * 8 + 3);
      out.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
    });
    return out;
  }

  private offset(from: number, target: Target): number {
    if (target === NEXT) return 0;
    const to = this.labels.get(target);
    if (to === undefined) throw new Error(`seccomp: undefined label "${target}"`);
    const off = to - (from + 1);
    if (off < 0 || off > 255)
      throw new Error(`seccomp: jump from ${from} to "${target}" is ${off} (must be 0..255)`);
    return off;
  }

  private push(code: number, jt: Target, jf: Target, k: number): this {
    if (!Number.isInteger(k) || k < 0 || k > 0xffffffff)
      throw new Error(`seccomp: constant ${k} is not a u32`);
    this.insns.push({ code, jt, jf, k });
    return this;
  }
}

const OFF_NR = 0;
const OFF_ARCH = 4;
const argLow = (i: number) => 16 + 8 * i;

/**
 * The filter for `arch` (a Node `process.arch` value): the bytes bwrap reads from `--seccomp FD`.
 * Throws SeccompUnsupportedError for other architectures (the caller then runs without seccomp,
 * and says so).
 *
 * Layout: arch check; on x86_64 the x32 check; one `jeq nr` per denied syscall, jumping to a shared
 * return (or to the argument check of a conditional rule); ALLOW; the argument checks; the shared
 * returns. Classic BPF only jumps forward; every jump here is short (the program is ~100
 * instructions; the assembler refuses a jump over 255).
 */
export function buildSeccompFilter(arch: NodeJS.Architecture = process.arch): Buffer {
  const a = seccompArch(arch);
  if (!a) throw new SeccompUnsupportedError(arch);
  const numbers = SYSCALL_NUMBERS[a];
  const rules = deniedOn(a);
  const ret = (errno: SeccompErrno) => `ret_${errno}`;
  const asm = new BpfAssembler();

  asm.load(OFF_ARCH).jeq(AUDIT_ARCH[a], NEXT, 'kill');
  asm.load(OFF_NR);
  if (a === 'x64') asm.jge(X32_SYSCALL_BIT, 'x32');

  const conditional: Array<{ label: string; refuse: string; m: Exclude<SeccompMatch, { kind: 'always' }> }> =
    [];
  for (const rule of rules) {
    const nr = numbers[rule.name];
    if (nr === undefined) throw new Error(`seccomp: no ${a} number for ${rule.name}`);
    if (rule.match.kind === 'always') {
      asm.jeq(nr, ret(rule.errno));
    } else {
      const label = `arg_${rule.name}`;
      conditional.push({ label, refuse: ret(rule.errno), m: rule.match });
      asm.jeq(nr, label);
    }
  }
  asm.ret(SECCOMP_RET_ALLOW);

  // Argument checks: each ends in a return (A no longer holds nr, so no falling through).
  for (const { label, refuse, m } of conditional) {
    asm.label(label).load(argLow(m.arg));
    if (m.kind === 'anyBit') {
      asm.jset(m.mask, refuse, 'allow');
    } else {
      const [hit, miss] = m.kind === 'oneOf' ? [refuse, 'allow'] : ['allow', refuse];
      m.values.forEach((v, i) => {
        asm.jeq(v, hit, i === m.values.length - 1 ? miss : NEXT);
      });
    }
  }
  // x32 range: refused, except nr -1 — what a tracer sets to skip a syscall; the kernel answers
  // ENOSYS (libseccomp lets it through too).
  if (a === 'x64') asm.label('x32').jeq(0xffffffff, 'allow', 'kill');

  const errnos = [...new Set(rules.map((r) => r.errno))];
  asm.label('allow').ret(SECCOMP_RET_ALLOW);
  for (const e of errnos) asm.label(ret(e)).ret(SECCOMP_RET_ERRNO | ERRNO_VALUE[e]);
  asm.label('kill').ret(SECCOMP_RET_KILL_PROCESS);
  return asm.assemble();
}

/**
 * A shell prefix that opens the filter file as `fd` for the bwrap it then execs:
 * `exec 3<'/path/seccomp.bpf' && exec bwrap --seccomp 3 …`. Each spawn must open the file afresh:
 * bwrap read()s the fd to its end, so one file description shared between spawns is empty after
 * the first.
 */
export function seccompShellPrefix(filePath: string, fd = 3): string {
  if (!Number.isInteger(fd) || fd < 3 || fd > 9) throw new Error(`seccomp: fd must be 3..9, got ${fd}`);
  return `exec ${fd}<'${filePath.replaceAll("'", `'\\''`)}' && `;
}
