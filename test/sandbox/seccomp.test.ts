// The generated seccomp program, run by a small classic-BPF interpreter on synthetic seccomp_data:
// every decision of the policy, per architecture, plus the structural rules the kernel enforces
// (length, forward in-range jumps, ends in a return). Syscall numbers are checked against the
// kernel headers on this machine when they are installed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AUDIT_ARCH,
  BPF_MAXINSNS,
  BpfAssembler,
  buildSeccompFilter,
  deniedOn,
  SECCOMP_DENIED,
  type SeccompArch,
  type SeccompMatch,
  SeccompUnsupportedError,
  SYSCALL_NUMBERS,
  seccompShellPrefix,
} from '../../src/sandbox/bwrap/seccomp.ts';

// ---------------------------------------------------------------------------------------------
// A classic-BPF interpreter (the subset seccomp programs use).
// ---------------------------------------------------------------------------------------------

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

function decode(prog: Buffer): Insn[] {
  expect(prog.length % 8).toBe(0);
  const out: Insn[] = [];
  for (let o = 0; o < prog.length; o += 8) {
    out.push({
      code: prog.readUInt16LE(o),
      jt: prog.readUInt8(o + 2),
      jf: prog.readUInt8(o + 3),
      k: prog.readUInt32LE(o + 4),
    });
  }
  return out;
}

interface SeccompData {
  nr: number;
  arch: number;
  /** Full 64-bit argument values. */
  args?: bigint[];
}

function seccompData(d: SeccompData): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(d.nr >>> 0, 0);
  b.writeUInt32LE(d.arch >>> 0, 4);
  b.writeBigUInt64LE(0x7f0000001000n, 8);
  (d.args ?? []).forEach((a, i) => {
    b.writeBigUInt64LE(BigInt.asUintN(64, a), 16 + 8 * i);
  });
  return b;
}

function run(prog: Buffer, d: SeccompData): number {
  const insns = decode(prog);
  const data = seccompData(d);
  let a = 0;
  let pc = 0;
  for (let steps = 0; steps <= insns.length; steps++) {
    const i = insns[pc];
    if (!i) throw new Error(`pc ${pc} outside the program`);
    pc++;
    switch (i.code) {
      case 0x20: // BPF_LD|BPF_W|BPF_ABS
        if (i.k % 4 !== 0 || i.k + 4 > 64) throw new Error(`bad load offset ${i.k}`);
        a = data.readUInt32LE(i.k);
        break;
      case 0x54: // BPF_ALU|BPF_AND|BPF_K
        a = (a & i.k) >>> 0;
        break;
      case 0x05: // BPF_JMP|BPF_JA
        pc += i.k;
        break;
      case 0x15: // BPF_JMP|BPF_JEQ|BPF_K
        pc += a === i.k ? i.jt : i.jf;
        break;
      case 0x35: // BPF_JMP|BPF_JGE|BPF_K
        pc += a >= i.k ? i.jt : i.jf;
        break;
      case 0x45: // BPF_JMP|BPF_JSET|BPF_K
        pc += (a & i.k) !== 0 ? i.jt : i.jf;
        break;
      case 0x06: // BPF_RET|BPF_K
        return i.k;
      default:
        throw new Error(`unknown opcode 0x${i.code.toString(16)}`);
    }
  }
  throw new Error('program did not return');
}

const ALLOW = 'ALLOW';
const KILL = 'KILL';
function decision(ret: number): string {
  if (ret === 0x7fff0000) return ALLOW;
  if (ret === 0x80000000) return KILL;
  if ((ret & 0xffff0000) >>> 0 === 0x00050000) return `ERRNO:${ret & 0xffff}`;
  return `other:0x${ret.toString(16)}`;
}
const EPERM = 'ERRNO:1';
const ENOSYS = 'ERRNO:38';
const EAFNOSUPPORT = 'ERRNO:97';
const ERRNO_NAME: Record<string, string> = { EPERM, ENOSYS, EAFNOSUPPORT };

const ARCHES: SeccompArch[] = ['x64', 'arm64'];
const PROGRAMS = Object.fromEntries(ARCHES.map((a) => [a, buildSeccompFilter(a)])) as Record<
  SeccompArch,
  Buffer
>;
const nrOf = (arch: SeccompArch, name: string): number => {
  const n = SYSCALL_NUMBERS[arch][name] ?? COMMON[arch][name];
  if (n === undefined) throw new Error(`no number for ${name} on ${arch}`);
  return n;
};
const call = (arch: SeccompArch, name: string, ...args: bigint[]) =>
  decision(run(PROGRAMS[arch], { nr: nrOf(arch, name), arch: AUDIT_ARCH[arch], args }));

/** Syscalls every tool uses (numbers checked against the headers below). */
// biome-ignore format: a table
const COMMON: Record<SeccompArch, Record<string, number>> = {
  x64: {
    read: 0, write: 1, close: 3, mmap: 9, mprotect: 10, rt_sigaction: 13, getpid: 39, connect: 42,
    fork: 57, vfork: 58, execve: 59, wait4: 61, prctl: 157, futex: 202, exit_group: 231, openat: 257,
    name_to_handle_at: 303, seccomp: 317, get_mempolicy: 239, pidfd_open: 434, statx: 332,
  },
  arm64: {
    getpid: 172, read: 63, write: 64, close: 57, mmap: 222, mprotect: 226, rt_sigaction: 134,
    connect: 203, execve: 221, wait4: 260, prctl: 167, futex: 98, exit_group: 94, openat: 56,
    name_to_handle_at: 264, seccomp: 277, get_mempolicy: 236, pidfd_open: 434, statx: 291,
  },
};

// ---------------------------------------------------------------------------------------------
// Kernel headers: the numbers in the table are the kernel's.
// ---------------------------------------------------------------------------------------------

const HEADERS: Record<SeccompArch, string> = {
  x64: '/usr/include/x86_64-linux-gnu/asm/unistd_64.h',
  arm64: '/usr/include/asm-generic/unistd.h',
};

/** `#define __NR_name value` lines, with aliases (`__NR_mmap __NR3264_mmap`) resolved. */
function parseUnistd(file: string): Map<string, number> {
  const raw = new Map<string, string>();
  for (const m of readFileSync(file, 'utf8').matchAll(/^#define\s+__NR(3264)?_(\w+)\s+(\S+)/gm)) {
    raw.set(`${m[1] ? '3264_' : ''}${m[2]}`, m[3] ?? '');
  }
  const out = new Map<string, number>();
  for (const [name, value] of raw) {
    if (name.startsWith('3264_')) continue;
    const alias = /^__NR3264_(\w+)$/.exec(value);
    const v = alias ? raw.get(`3264_${alias[1]}`) : value;
    if (v !== undefined && /^\d+$/.test(v)) out.set(name, Number(v));
  }
  return out;
}

/** Added to the kernel after the headers installed here (linux-libc-dev 6.1): unified numbers. */
const NEWER_THAN_HEADERS: Record<string, number> = { open_tree_attr: 467 };

describe.each(ARCHES)('syscall numbers (%s) match the kernel headers', (arch) => {
  const header = HEADERS[arch];
  it.skipIf(!existsSync(header))(`${header}`, () => {
    const nrs = parseUnistd(header);
    expect(nrs.size).toBeGreaterThan(250);
    const max = Math.max(...nrs.values());
    for (const table of [SYSCALL_NUMBERS[arch], COMMON[arch]]) {
      for (const [name, nr] of Object.entries(table)) {
        const fromHeader = nrs.get(name);
        if (fromHeader === undefined) {
          expect(NEWER_THAN_HEADERS[name], `${name} missing from ${header}`).toBe(nr);
          expect(nr).toBeGreaterThan(max);
        } else {
          expect(nr, name).toBe(fromHeader);
        }
      }
    }
    // x86-only rules are x86-only: the generic table has no such syscall.
    for (const d of SECCOMP_DENIED.filter((d) => d.arches)) {
      expect(nrs.has(d.name), d.name).toBe(d.arches?.includes(arch) ?? false);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The policy
// ---------------------------------------------------------------------------------------------

describe('SECCOMP_DENIED', () => {
  it('names each syscall once, with a reason, and has a number for it on every arch it applies to', () => {
    const names = SECCOMP_DENIED.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    for (const d of SECCOMP_DENIED) {
      expect(d.why.length, d.name).toBeGreaterThan(10);
      expect(d.match.kind === 'always' || (d.when ?? '').length > 0, d.name).toBe(true);
      for (const a of d.arches ?? ARCHES)
        expect(SYSCALL_NUMBERS[a][d.name], `${a} ${d.name}`).toBeTypeOf('number');
    }
  });

  it('covers what the issue asks for', () => {
    const names = new Set(SECCOMP_DENIED.map((d) => d.name));
    // biome-ignore format: a list
    const required = [
      'add_key', 'keyctl', 'request_key', 'ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp',
      'init_module', 'finit_module', 'delete_module', 'kexec_load', 'kexec_file_load', 'mount', 'umount2',
      'pivot_root', 'chroot', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree',
      'mount_setattr', 'unshare', 'setns', 'clone', 'clone3', 'userfaultfd', 'perf_event_open', 'bpf',
      'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'swapon', 'swapoff', 'reboot',
      'settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex', 'acct', 'syslog', 'quotactl',
      'lookup_dcookie', 'vhangup', 'iopl', 'ioperm', 'modify_ldt', 'uselib', 'open_by_handle_at',
      'fanotify_init', 'mbind', 'set_mempolicy', 'migrate_pages', 'move_pages', 'personality', 'ioctl',
    ];
    for (const n of required) expect(names.has(n), n).toBe(true);
    expect(names.has('name_to_handle_at')).toBe(false);
  });
});

describe.each(ARCHES)('the %s program', (arch) => {
  const prog = PROGRAMS[arch];
  const native = AUDIT_ARCH[arch];

  it('is well formed: length, known opcodes, aligned loads, forward jumps inside the program', () => {
    const insns = decode(prog);
    expect(insns.length).toBeGreaterThan(10);
    expect(insns.length).toBeLessThanOrEqual(BPF_MAXINSNS);
    expect(insns.at(-1)?.code).toBe(0x06);
    insns.forEach((i, pc) => {
      expect([0x20, 0x15, 0x35, 0x45, 0x06], `opcode at ${pc}`).toContain(i.code);
      if (i.code === 0x20) expect(i.k % 4 === 0 && i.k < 64, `load at ${pc}`).toBe(true);
      if (i.code !== 0x06 && i.code !== 0x20) {
        expect(pc + 1 + i.jt, `jt at ${pc}`).toBeLessThan(insns.length);
        expect(pc + 1 + i.jf, `jf at ${pc}`).toBeLessThan(insns.length);
      }
    });
    // Deterministic: the same bytes every time (the file can be cached / compared).
    expect(buildSeccompFilter(arch).equals(prog)).toBe(true);
  });

  it('refuses every denied syscall with its errno', () => {
    for (const d of deniedOn(arch)) {
      const want = ERRNO_NAME[d.errno];
      const m = d.match;
      const args = [0n, 0n, 0n, 0n, 0n, 0n];
      if (m.kind === 'anyBit') args[m.arg] = BigInt(m.mask);
      if (m.kind === 'oneOf') args[m.arg] = BigInt(m.values[0] ?? 0);
      if (m.kind === 'noneOf') args[m.arg] = 0x7777n;
      expect(call(arch, d.name, ...args), d.name).toBe(want);
    }
  });

  it('allows every syscall number it does not name (exhaustive over 0..1023)', () => {
    const denied = new Map(deniedOn(arch).map((d) => [SYSCALL_NUMBERS[arch][d.name], d]));
    // With all-zero arguments: clone(0), ioctl(fd, 0) and personality(PER_LINUX) pass, socket(AF_UNSPEC) not.
    const refusedWithZeroArgs = (m: SeccompMatch) =>
      m.kind === 'always' ||
      (m.kind === 'oneOf' && m.values.includes(0)) ||
      (m.kind === 'noneOf' && !m.values.includes(0));
    for (let nr = 0; nr < 1024; nr++) {
      const d = denied.get(nr);
      const want = d && refusedWithZeroArgs(d.match) ? ERRNO_NAME[d.errno] : ALLOW;
      expect(decision(run(prog, { nr, arch: native, args: [0n, 0n, 0n, 0n, 0n, 0n] })), `nr ${nr}`).toBe(
        want,
      );
    }
  });

  it('allows what ordinary tools do', () => {
    for (const name of Object.keys(COMMON[arch])) expect(call(arch, name, 3n, 0n, 0n), name).toBe(ALLOW);
    expect(call(arch, 'socket', 2n, 1n, 0n)).toBe(ALLOW); // AF_INET stream
    expect(call(arch, 'socket', 10n, 2n, 0n)).toBe(ALLOW); // AF_INET6 dgram
    expect(call(arch, 'socket', 1n, 1n, 0n)).toBe(ALLOW); // AF_UNIX
    expect(call(arch, 'socket', 16n, 3n, 0n)).toBe(ALLOW); // AF_NETLINK (getifaddrs)
  });

  it('refuses namespace flags on clone and allows fork, vfork and threads', () => {
    const NS = {
      NEWNS: 0x20000n,
      NEWCGROUP: 0x02000000n,
      NEWUTS: 0x04000000n,
      NEWIPC: 0x08000000n,
      NEWUSER: 0x10000000n,
      NEWPID: 0x20000000n,
      NEWNET: 0x40000000n,
    };
    const SIGCHLD = 17n;
    for (const [name, flag] of Object.entries(NS)) {
      expect(call(arch, 'clone', flag | SIGCHLD), name).toBe(EPERM);
      // The kernel reads the low 32 bits: garbage above them changes nothing.
      expect(call(arch, 'clone', (0xdeadbeefn << 32n) | flag | SIGCHLD), `${name} + high bits`).toBe(EPERM);
    }
    // glibc fork(): SIGCHLD | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID.
    expect(call(arch, 'clone', 0x01200000n | SIGCHLD)).toBe(ALLOW);
    // pthread_create: VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID.
    expect(call(arch, 'clone', 0x003d0f00n)).toBe(ALLOW);
    // posix_spawn / vfork: CLONE_VM | CLONE_VFORK | SIGCHLD.
    expect(call(arch, 'clone', 0x4100n | SIGCHLD)).toBe(ALLOW);
    expect(call(arch, 'clone', (0xffffffffn << 32n) | 0x01200000n | SIGCHLD)).toBe(ALLOW);
    // Exit signal 0x80+ (overlaps CLONE_NEWTIME, which clone() cannot express) is the kernel's business.
    expect(call(arch, 'clone', 0x80n)).toBe(ALLOW);
    expect(call(arch, 'clone3', 0x1234n, 88n)).toBe(ENOSYS);
    expect(call(arch, 'unshare', 0x200n)).toBe(EPERM); // even CLONE_FILES-only
  });

  it('refuses terminal injection ioctls, whatever the upper 32 bits, and allows other ioctls', () => {
    for (const req of [0x5412n, 0x541cn]) {
      expect(call(arch, 'ioctl', 0n, req)).toBe(EPERM);
      expect(call(arch, 'ioctl', 0n, (0xdeadbeefn << 32n) | req)).toBe(EPERM);
      expect(call(arch, 'ioctl', 0n, (1n << 32n) | req)).toBe(EPERM);
    }
    // TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, FICLONE; and garbage upper bits on an allowed request.
    for (const req of [0x5401n, 0x5413n, 0x541bn, 0x5421n, 0x40049409n, (0xdeadbeefn << 32n) | 0x5401n]) {
      expect(call(arch, 'ioctl', 1n, req), `0x${req.toString(16)}`).toBe(ALLOW);
    }
  });

  it('allows only the harmless personalities', () => {
    for (const p of [0n, 0x8n, 0x20000n, 0x20008n, 0xffffffffn]) {
      expect(call(arch, 'personality', p), `0x${p.toString(16)}`).toBe(ALLOW);
    }
    // ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ADDR_COMPAT_LAYOUT, PER_BSD, ADDR_NO_RANDOMIZE|PER_LINUX32.
    for (const p of [0x40000n, 0x400000n, 0x200000n, 0x6n, 0x40008n]) {
      expect(call(arch, 'personality', p), `0x${p.toString(16)}`).toBe(EPERM);
    }
  });

  it('refuses unusual socket families', () => {
    // AF_UNSPEC, AF_PACKET, AF_ALG, AF_VSOCK, AF_BLUETOOTH, AF_KEY, AF_XDP, out of range.
    for (const family of [0n, 17n, 38n, 40n, 31n, 15n, 44n, 0xffffffffn]) {
      expect(call(arch, 'socket', family, 1n, 0n), `family ${family}`).toBe(EAFNOSUPPORT);
    }
  });

  it('kills a process that uses a foreign ABI', () => {
    const foreign = [
      0x40000003, // i386 (int 0x80 from a 64-bit process)
      0xc000003e, // x86_64
      0xc00000b7, // aarch64
      0x40000028, // arm (AArch32 compat)
      0xc00000f3, // riscv64
      0,
    ].filter((a) => a !== native);
    for (const a of foreign) {
      // i386 getpid (20) and keyctl (288): both must die, the harmless one as well.
      for (const nr of [20, 288, 0]) {
        expect(decision(run(prog, { nr, arch: a })), `arch 0x${a.toString(16)} nr ${nr}`).toBe(KILL);
      }
    }
  });
});

describe('x86_64 specifics', () => {
  const x64 = PROGRAMS.x64;
  const at = (nr: number) => decision(run(x64, { nr, arch: AUDIT_ARCH.x64 }));

  it('kills x32 syscalls (nr | 0x40000000) but lets nr -1 reach the kernel (ENOSYS there)', () => {
    expect(at(0x40000000 | 39)).toBe(KILL); // x32 getpid
    expect(at(0x40000000 | 250)).toBe(KILL); // x32 keyctl
    expect(at(0x40000000 | 522)).toBe(KILL);
    expect(at(0x7fffffff)).toBe(KILL);
    expect(at(0x80000000)).toBe(KILL);
    expect(at(0xffffffff)).toBe(ALLOW);
    expect(at(0x3fffffff)).toBe(ALLOW);
  });

  it('refuses the x86-only syscalls', () => {
    for (const name of ['iopl', 'ioperm', 'modify_ldt', 'uselib'])
      expect(call('x64', name), name).toBe(EPERM);
    expect(deniedOn('arm64').some((d) => d.name === 'iopl')).toBe(false);
  });
});

describe('unsupported architectures', () => {
  it('throws a clear error', () => {
    for (const a of ['ia32', 'riscv64', 's390x', 'ppc64'] as NodeJS.Architecture[]) {
      expect(() => buildSeccompFilter(a)).toThrow(SeccompUnsupportedError);
      expect(() => buildSeccompFilter(a)).toThrow(/no filter for architecture/);
    }
  });

  it('builds for this machine when it is x64 or arm64', () => {
    if (process.arch === 'x64' || process.arch === 'arm64') {
      expect(buildSeccompFilter().equals(PROGRAMS[process.arch])).toBe(true);
    }
  });
});

describe('BpfAssembler', () => {
  it('refuses jumps that do not fit in 8 bits, backward jumps and unknown labels', () => {
    const far = new BpfAssembler().jeq(1, 'end');
    for (let i = 0; i < 256; i++) far.load(0);
    far.label('end').ret(0);
    expect(() => far.assemble()).toThrow(/must be 0\.\.255/);

    const near = new BpfAssembler().jeq(1, 'end');
    for (let i = 0; i < 255; i++) near.load(0);
    near.label('end').ret(0);
    expect(decode(near.assemble())[0]?.jt).toBe(255);

    expect(() => new BpfAssembler().label('top').jeq(1, 'top').ret(0).assemble()).toThrow(/must be 0\.\.255/);
    expect(() => new BpfAssembler().jeq(1, 'nowhere').ret(0).assemble()).toThrow(/undefined label/);
    expect(() => new BpfAssembler().load(0).assemble()).toThrow(/end with a return/);
    expect(() => new BpfAssembler().label('a').label('a')).toThrow(/duplicate/);
    expect(() => new BpfAssembler().ret(2 ** 32)).toThrow(/u32/);
  });

  it('refuses programs longer than BPF_MAXINSNS', () => {
    const asm = new BpfAssembler();
    for (let i = 0; i < BPF_MAXINSNS; i++) asm.load(0);
    asm.ret(0);
    expect(() => asm.assemble()).toThrow(/program length/);
  });
});

describe('seccompShellPrefix', () => {
  it('opens the file as the fd for the command it execs, whatever the path', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "sec 'q' $x-"));
    try {
      const file = path.join(dir, 'filter.bpf');
      writeFileSync(file, 'BYTES');
      const out = execFileSync('/bin/sh', ['-c', `${seccompShellPrefix(file, 5)}exec cat <&5`], {
        encoding: 'utf8',
      });
      expect(out).toBe('BYTES');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => seccompShellPrefix('/x', 2)).toThrow(/fd/);
  });
});
