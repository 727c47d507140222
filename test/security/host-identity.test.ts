// Who a sandboxed process is ON THE HOST. The review found that a root server's sandbox was host
// uid 0 (`--unshare-user --uid 1000` started by root maps 1000 → 0) with a writable /proc/sys:
// `test -w /proc/sys/kernel/core_pattern` succeeded and a sysctl written inside changed on the host.
// Checked from outside every namespace: file owners and /proc/<pid>/status of live sandboxed
// processes. Run as root in CI and as an unprivileged user by unprivileged.test.ts.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkspaceManager } from '../../src/sandbox/workspace/manager.ts';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { sleep } from '../helpers/sleep.ts';
import { hostProcesses, makeSecFixture, type SecFixture, uniqueMarker } from './helpers.ts';

const isRoot = process.getuid?.() === 0;

let fx: SecFixture;
beforeAll(async () => {
  if (HAS_BWRAP) fx = await makeSecFixture();
});
afterAll(() => fx?.cleanup());

/** Real, effective, saved and fs uids of a host process. */
function hostUids(pid: number): number[] {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Uid:'));
  return (line ?? '').split(/\s+/).slice(1).filter(Boolean).map(Number);
}

describe.skipIf(!HAS_BWRAP)('the sandbox is never host root', () => {
  it('a running sandboxed process and the files it writes belong to an unprivileged host uid', async () => {
    const marker = uniqueMarker();
    const running = fx.bash(`touch made-inside && sleep ${marker}`, 20_000);
    let pids: number[] = [];
    for (let i = 0; i < 200 && pids.length === 0; i++) {
      pids = hostProcesses(marker)
        .map((l) => Number(l.trim().split(/\s+/)[0]))
        .filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep';
          } catch {
            return false;
          }
        });
      await sleep(25);
    }
    expect(pids.length).toBeGreaterThan(0);
    const expected = isRoot ? statSync(fx.workspace).uid : process.getuid?.();
    for (const pid of pids) {
      const uids = hostUids(pid);
      expect(uids).toHaveLength(4);
      for (const u of uids) expect(u, `host uid of sandboxed pid ${pid}`).not.toBe(0);
      expect(uids[0]).toBe(expected);
    }
    // stop the sleeper from outside
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await running;
    const owner = statSync(path.join(fx.workspace, 'made-inside')).uid;
    expect(owner).not.toBe(0);
    expect(owner).toBe(expected);
  });

  it('on a root server every session has its own uid and 0700 directories', async () => {
    if (!isRoot) return; // a non-root server runs every sandbox as its own (unprivileged) uid
    const ids = fx.sandbox.identities;
    expect(ids).not.toBeNull();
    const wm = new WorkspaceManager(fx.tmp, { identities: ids });
    const a = statSync(fx.workspace);
    const b = statSync(await wm.ensure('second-session'));
    expect(a.uid).not.toBe(b.uid);
    for (const st of [a, b]) {
      expect(ids?.owns(st.uid)).toBe(true);
      expect(st.mode & 0o777).toBe(0o700);
    }
    // inside: the session's own uid, no capabilities, no_new_privs, seccomp on
    const r = await fx.bash('id -u; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status');
    expect(r.output).toContain(`${a.uid}\n`);
    expect(r.output).toMatch(/CapEff:\s+0+\n/);
    expect(r.output).toMatch(/CapBnd:\s+0+\n/);
    expect(r.output).toMatch(/NoNewPrivs:\s+1/);
    expect(r.output).toMatch(/Seccomp:\s+2/);
  });

  it('on a root server, sessions whose workspaces are made at once still get a uid each', async () => {
    if (!isRoot) return;
    const ids = fx.sandbox.identities;
    const wm = new WorkspaceManager(fx.tmp, { identities: ids });
    // Workspaces are handed over in parallel (only the choice of uid is serialised): 24 sessions
    // at once, and one of them ensured three times at once (its calls share one adoption).
    const names = Array.from({ length: 24 }, (_, i) => `burst-${i}`);
    const dirs = await Promise.all([...names, 'burst-0', 'burst-0'].map((n) => wm.ensure(n)));
    const uids = dirs.slice(0, names.length).map((d) => statSync(d).uid);
    expect(new Set(uids).size).toBe(names.length);
    expect(uids).not.toContain(statSync(fx.workspace).uid);
    for (const uid of uids) expect(ids?.owns(uid)).toBe(true);
    expect(statSync(dirs.at(-1)!).uid).toBe(uids[0]);
    expect(statSync(await wm.homeFor('burst-0')).uid).toBe(uids[0]);
  });

  it('/proc/sys, /proc/sysrq-trigger and friends cannot be written; a sysctl never changes on the host', async () => {
    const file = '/proc/sys/kernel/printk_ratelimit';
    const before = readFileSync(file, 'utf8').trim();
    const next = String(Number(before) + 1);
    const r = await fx.bash(
      [
        'test -w /proc/sys/kernel/core_pattern && echo CORE-WRITABLE',
        `echo ${next} > ${file} 2>&1 && echo SYSCTL-WRITTEN`,
        'echo h > /proc/sysrq-trigger 2>&1 && echo SYSRQ-WRITTEN',
        'cat /proc/kcore > /dev/null 2>&1 && echo KCORE-READ',
        'cat /proc/timer_list 2>/dev/null | head -c 1 | grep -q . && echo TIMER-READ',
        'echo done',
      ].join('; '),
    );
    expect(r.output).toContain('done');
    expect(r.output).not.toMatch(/CORE-WRITABLE|SYSCTL-WRITTEN|SYSRQ-WRITTEN|KCORE-READ|TIMER-READ/);
    expect(readFileSync(file, 'utf8').trim()).toBe(before);
    expect(readFileSync('/proc/sys/kernel/core_pattern', 'utf8')).not.toMatch(/^\|.*sandbox/);
  });

  it('setuid programs grant nothing (no_new_privs)', async () => {
    const su = ['/usr/bin/su', '/bin/su', '/usr/bin/passwd'].find((p) => {
      try {
        return (statSync(p).mode & 0o4000) !== 0;
      } catch {
        return false;
      }
    });
    if (!su) return;
    const r = await fx.bash(`${su} --help >/dev/null 2>&1; id -u; grep NoNewPrivs /proc/self/status`);
    expect(r.output).toMatch(/NoNewPrivs:\s+1/);
    expect(r.output.split('\n')[0]).not.toBe('0');
  });
});
