// Compiles a Docker/OCI seccomp profile (the JSON `docker run --security-opt seccomp=FILE` reads)
// into classic BPF for x86_64, so a test can apply it the way a container runtime does — for the
// subset of the format our profiles use: ALLOW (or ERRNO) rules by name, with at most one argument condition
// (SCMP_CMP_EQ, or SCMP_CMP_MASKED_EQ with value 0), and an ERRNO default. Numbers come from
// fixtures/syscalls-x86_64.json (Linux UAPI headers); names unknown on x86_64 are skipped, as runc does.
import { readFileSync } from 'node:fs';
import {
  AUDIT_ARCH,
  BpfAssembler,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  X32_SYSCALL_BIT,
} from '../../src/sandbox/bwrap/seccomp.ts';

export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap?: Array<{ architecture: string; subArchitectures: string[] | null }>;
  syscalls: Array<{
    names: string[];
    action: string;
    errnoRet?: number;
    args?: Array<{ index: number; value: number; valueTwo?: number; op: string }>;
  }>;
}

export const X64_SYSCALLS: Record<string, number> = JSON.parse(
  readFileSync(new URL('./fixtures/syscalls-x86_64.json', import.meta.url), 'utf8'),
);

const NEXT = '';
const argLow = (i: number) => 16 + 8 * i;

export function compileProfile(p: SeccompProfile): Buffer {
  if (p.defaultAction !== 'SCMP_ACT_ERRNO') throw new Error(`unsupported defaultAction ${p.defaultAction}`);
  const deny = SECCOMP_RET_ERRNO | (p.defaultErrnoRet ?? 1);
  const asm = new BpfAssembler();
  // another ABI (i386, x32) is killed, like libseccomp does for architectures the profile leaves out
  asm.load(4).jeq(AUDIT_ARCH.x64, 'native', NEXT).ret(SECCOMP_RET_KILL_PROCESS).label('native');
  asm.load(0).jge(X32_SYSCALL_BIT, NEXT, 'x64').ret(SECCOMP_RET_KILL_PROCESS).label('x64');
  let n = 0;
  for (const rule of p.syscalls) {
    if (rule.action !== 'SCMP_ACT_ALLOW' && rule.action !== 'SCMP_ACT_ERRNO')
      throw new Error(`unsupported action ${rule.action}`);
    if ((rule.args?.length ?? 0) > 1) throw new Error('at most one argument condition per rule');
    const cond = rule.args?.[0];
    const hit =
      rule.action === 'SCMP_ACT_ALLOW' ? SECCOMP_RET_ALLOW : SECCOMP_RET_ERRNO | (rule.errnoRet ?? 1);
    for (const name of rule.names) {
      const nr = X64_SYSCALLS[name];
      if (nr === undefined) continue;
      const skip = `skip_${n++}`;
      asm.jeq(nr, NEXT, skip);
      if (!cond) {
        asm.ret(hit);
      } else {
        asm.load(argLow(cond.index));
        if (cond.op === 'SCMP_CMP_EQ') asm.jeq(cond.value >>> 0, `ok_${skip}`, NEXT);
        else if (cond.op === 'SCMP_CMP_MASKED_EQ' && (cond.valueTwo ?? 0) === 0)
          asm.jset(cond.value >>> 0, NEXT, `ok_${skip}`);
        else throw new Error(`unsupported condition ${cond.op}`);
        asm.ret(deny);
        asm.label(`ok_${skip}`).ret(hit);
      }
      asm.label(skip);
      if (cond) asm.load(0);
    }
  }
  asm.ret(deny);
  return asm.assemble();
}
