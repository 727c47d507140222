// The seccomp filter on the real kernel, under the real bubblewrap (spawned directly here, not
// through the project's sandbox wrapper): refused syscalls fail with the promised errno from inside
// the sandbox, a control run WITHOUT the filter shows the same calls are not refused by the kernel
// anyway (so these tests fail on the old, filter-less sandbox), and ordinary work still works.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildSeccompFilter,
  type SeccompArch,
  SYSCALL_NUMBERS,
  seccompArch,
  seccompShellPrefix,
} from '../../src/sandbox/bwrap/seccomp.ts';
import { BWRAP_PATH } from '../helpers/bwrap.ts';

// Without bubblewrap this suite fails unless SKIP_SANDBOX_TESTS=1 (see ../helpers/bwrap.ts).
const BWRAP = BWRAP_PATH;
const ARCH = seccompArch(process.arch);
if (!ARCH) console.warn(`seccomp-bwrap: no filter for ${process.arch}; these tests are skipped`);
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : null;

let dir = '';
let filterFile = '';
beforeAll(() => {
  dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'seccomp-bwrap-')));
  filterFile = path.join(dir, 'filter.bpf');
  if (ARCH) writeFileSync(filterFile, buildSeccompFilter(ARCH));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** bwrap's arguments up to (not including) `--seccomp`/`--`: the test's files are at /t, read-only. */
function bwrapArgs(): string[] {
  const nodeDir = path.dirname(realpathSync(process.execPath));
  return [
    '--unshare-user',
    '--uid',
    '1000',
    '--gid',
    '1000',
    '--unshare-pid',
    '--unshare-net',
    '--die-with-parent',
    '--ro-bind',
    '/usr',
    '/usr',
    '--symlink',
    'usr/bin',
    '/bin',
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
    '--ro-bind',
    nodeDir,
    nodeDir,
    '--ro-bind',
    dir,
    '/t',
    '--chdir',
    '/tmp',
  ];
}

const ENV = { PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8' };

function collect(child: ReturnType<typeof spawn>): Promise<Result> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `cmd` in bwrap, with the filter passed as fd 3 (opened afresh for this spawn) unless `seccomp: false`. */
function sandboxed(cmd: string[], seccomp = true): Promise<Result> {
  const fd = seccomp ? openSync(filterFile, 'r') : null;
  try {
    const args = [...bwrapArgs(), ...(fd === null ? [] : ['--seccomp', '3']), '--', ...cmd];
    return collect(
      spawn(BWRAP ?? 'bwrap', args, { stdio: ['ignore', 'pipe', 'pipe', fd ?? 'ignore'], env: ENV }),
    );
  } finally {
    // The child holds its own copy from here on.
    if (fd !== null) closeSync(fd);
  }
}

const sh = (script: string, seccomp = true) => sandboxed(['/bin/sh', '-c', script], seccomp);

// ---------------------------------------------------------------------------------------------
// Probes: real syscalls through perl's syscall(). Arguments are chosen so that, without the filter,
// the kernel answers something else than the filter would (success, EBADF, ESRCH, ENOTTY, …).
// ---------------------------------------------------------------------------------------------

const EPERM = 1;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;

interface Probe {
  name: string;
  /** perl arguments after the syscall number. */
  args: string;
  syscall: string;
  /** errno with the filter, or 'ok'. */
  want: number | 'ok';
  /** The control run (no filter) answers differently on this kernel. */
  controlDiffers: boolean;
}

function probes(arch: SeccompArch): Probe[] {
  const p = (name: string, syscall: string, args: string, want: number | 'ok', controlDiffers = true) => ({
    name,
    syscall,
    args,
    want,
    controlDiffers,
  });
  return [
    p('keyctl', 'keyctl', '0, -3, 0', EPERM), // KEYCTL_GET_KEYRING_ID(session)
    p('add_key', 'add_key', '"user", "seccomp-test", "x", 1, -2', EPERM), // to the process keyring
    p('request_key', 'request_key', '"user", "seccomp-none", 0, 0', EPERM),
    p('userfaultfd', 'userfaultfd', '1', EPERM), // UFFD_USER_MODE_ONLY: allowed unprivileged
    p('bpf', 'bpf', '0, 0, 0', EPERM, false),
    p('perf_event_open', 'perf_event_open', '0, 0, -1, -1, 0', EPERM),
    p('ptrace', 'ptrace', '16, 99999, 0, 0', EPERM), // PTRACE_ATTACH to nobody: ESRCH without filter
    p('process_vm_readv', 'process_vm_readv', '1, 0, 0, 0, 0, 0', EPERM),
    p('kcmp', 'kcmp', '$$, $$, 0, 0, 0', EPERM),
    p('pidfd_getfd', 'pidfd_getfd', '-1, 0, 0', EPERM),
    p('io_uring_setup', 'io_uring_setup', '1, 0', ENOSYS),
    p('clone3', 'clone3', '0, 0', ENOSYS),
    p('clone(NEWUSER)', 'clone', `${0x10000000 | 17}, 0, 0, 0, 0`, EPERM),
    p('clone(NEWNET)', 'clone', `${0x40000000 | 17}, 0, 0, 0, 0`, EPERM, false),
    p('unshare(NEWUSER)', 'unshare', `${0x10000000}`, EPERM),
    p('setns', 'setns', '-1, 0', EPERM),
    p('mount', 'mount', '"none", "/tmp", "tmpfs", 0, 0', EPERM, false),
    p('open_tree', 'open_tree', '-100, "/tmp", 0', EPERM),
    p('fsopen', 'fsopen', '"tmpfs", 0', EPERM, false),
    p('chroot', 'chroot', '"/"', EPERM, false),
    p('personality(ADDR_NO_RANDOMIZE)', 'personality', `${0x40000}`, EPERM),
    p('personality(query)', 'personality', `${0xffffffff}`, 'ok', false),
    p('ioctl(TIOCSTI)', 'ioctl', `0, ${0x5412}, "x"`, EPERM), // stdin is /dev/null: ENOTTY without
    p('ioctl(TIOCSTI|garbage<<32)', 'ioctl', `0, ${0x1_0000_5412}, "x"`, EPERM),
    p('ioctl(TCGETS)', 'ioctl', `0, ${0x5401}, "x" x 64`, 25, false), // ENOTTY from the kernel
    p('socket(AF_PACKET)', 'socket', '17, 3, 0', EAFNOSUPPORT),
    p('socket(AF_VSOCK)', 'socket', '40, 1, 0', EAFNOSUPPORT, false),
    p('socket(AF_INET)', 'socket', '2, 1, 0', 'ok', false),
    p('socket(AF_NETLINK)', 'socket', '16, 3, 0', 'ok', false),
    p('syslog', 'syslog', '10, 0, 0', EPERM, false), // SYSLOG_ACTION_SIZE_BUFFER
  ].map((x) => ({ ...x, syscall: String(SYSCALL_NUMBERS[arch][x.syscall]) }));
}

function probeScript(list: Probe[]): string {
  const lines = [
    'use POSIX ();',
    // A raw clone that succeeds (control run) returns 0 in the child: leave at once.
    'sub t { my ($name, $nr, @a) = @_; $! = 0; my $r = syscall($nr, @a);',
    '  POSIX::_exit(0) if $r == 0 && $name =~ /^clone/;',
    '  print "$name\\t", ($r == -1 ? $! + 0 : "ok"), "\\n"; }',
    ...list.map((x) => `t("${x.name}", ${x.syscall}, ${x.args});`),
  ];
  return `${lines.join('\n')}\n`;
}

function parseProbes(out: string): Map<string, string> {
  return new Map(
    out
      .trim()
      .split('\n')
      .map((l) => l.split('\t') as [string, string]),
  );
}

describe.skipIf(!BWRAP || !ARCH)('seccomp under bwrap (real kernel)', () => {
  const arch = ARCH ?? 'x64';

  it('installs the filter (Seccomp: 2) and bwrap closes the fd it came from', async () => {
    const script =
      'grep ^Seccomp: /proc/self/status; [ -e /proc/$$/fd/3 ] && echo fd3-open || echo fd3-closed';
    const r = await sh(script);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(r.stdout).toContain('fd3-closed');
    const control = await sh(script, false);
    expect(control.stdout).toMatch(/^Seccomp:\s+0$/m);
  });

  it('refuses the denied syscalls with the promised errno; without the filter the kernel answers otherwise', async () => {
    const list = probes(arch);
    writeFileSync(path.join(dir, 'probe.pl'), probeScript(list));
    const [withFilter, control] = await Promise.all([
      sandboxed(['/usr/bin/perl', '/t/probe.pl']),
      sandboxed(['/usr/bin/perl', '/t/probe.pl'], false),
    ]);
    expect(withFilter.code, withFilter.stderr).toBe(0);
    expect(control.code, control.stderr).toBe(0);
    const got = parseProbes(withFilter.stdout);
    const ctl = parseProbes(control.stdout);
    for (const x of list) {
      expect(got.get(x.name), x.name).toBe(String(x.want));
      if (x.controlDiffers) expect(ctl.get(x.name), `${x.name} without the filter`).not.toBe(String(x.want));
    }
  });

  it('stops namespace and mount tools', async () => {
    const script = [
      'unshare -U true && echo userns-ok',
      'unshare -m true && echo mountns-ok',
      'unshare -Urm true && echo root-userns-ok',
      'mount -t tmpfs none /tmp && echo mount-ok',
      'setarch -R true && echo setarch-ok',
      'echo done',
    ].join('; ');
    const r = await sh(script);
    expect(r.stdout.trim()).toBe('done');
    expect(r.stderr).toMatch(/unshare failed: Operation not permitted/);
    // Without the filter, a nested user namespace (and a mount namespace inside it) is possible.
    const control = await sh(script, false);
    expect(control.stdout).toContain('userns-ok');
    expect(control.stdout).toContain('root-userns-ok');
    expect(control.stdout).toContain('setarch-ok');
  });

  it.skipIf(arch !== 'x64')('kills a process that enters the kernel through the x32 ABI', async () => {
    const script = `/usr/bin/perl -e 'syscall(${0x40000000 | 39}); print "alive\\n"'; echo "rc=$?"`;
    const r = await sh(script);
    expect(r.stdout).not.toContain('alive');
    expect(r.stdout).toContain(`rc=${128 + 31}`); // SIGSYS
    const control = await sh(script, false);
    expect(control.stdout).toContain('alive');
  });

  it.skipIf(arch !== 'x64' || !PYTHON)(
    'kills a 64-bit process that uses int 0x80 (i386 syscalls)',
    async () => {
      // mov eax, 20 (i386 getpid); int 0x80; ret — executed from an RWX page through ctypes.
      writeFileSync(
        path.join(dir, 'int80.py'),
        [
          'import ctypes, mmap',
          'code = bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3])',
          'buf = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)',
          'buf.write(code)',
          'fn = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))',
          'print("int80 getpid", fn(), flush=True)',
        ].join('\n'),
      );
      const script = `${PYTHON} /t/int80.py; echo "rc=$?"`;
      const r = await sh(script);
      expect(r.stdout).not.toContain('int80 getpid');
      expect(r.stdout).toContain(`rc=${128 + 31}`);
      const control = await sh(script, false);
      expect(control.stdout).toMatch(/int80 getpid \d+/);
    },
  );

  it('keeps ordinary work working: bash, coreutils, git, perl fork', async () => {
    const script = [
      'set -eu',
      'echo hello | tr a-z A-Z',
      'seq 1 1000 | sort -n | tail -1 | sha256sum >/dev/null',
      'f=$(mktemp); echo x > "$f"; cp "$f" "$f.2"; cmp "$f" "$f.2"; rm "$f" "$f.2"',
      'bash -c "for i in 1 2 3; do (echo sub \\$i) & done; wait" | wc -l',
      'cd /tmp && git init -q repo && cd repo && echo a > a.txt && git add a.txt',
      'git -c user.name=t -c user.email=t@example.invalid commit -qm first',
      'git log --oneline | wc -l',
      "perl -e 'my $p = fork; if ($p == 0) { exit 7 } waitpid($p, 0); exit(($? >> 8) == 7 ? 0 : 1)'",
      'echo ALL-OK',
    ].join('\n');
    const r = await sandboxed(['/bin/bash', '-c', script]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('HELLO');
    expect(r.stdout).toContain('ALL-OK');
  });

  it('keeps node working: child processes, worker threads, fs, a loopback HTTP server and client', async () => {
    const program = `
      const { spawnSync, execFile } = require('node:child_process');
      const { Worker } = require('node:worker_threads');
      const fs = require('node:fs');
      const http = require('node:http');
      (async () => {
        const child = spawnSync('/bin/sh', ['-c', 'echo from-child'], { encoding: 'utf8' });
        if (child.stdout.trim() !== 'from-child') throw new Error('spawnSync: ' + JSON.stringify(child));
        await new Promise((ok, ko) => execFile('/usr/bin/true', (e) => (e ? ko(e) : ok())));
        const w = await new Promise((ok, ko) => {
          const worker = new Worker('require("node:worker_threads").parentPort.postMessage(6 * 7)', { eval: true });
          worker.once('message', ok);
          worker.once('error', ko);
        });
        if (w !== 42) throw new Error('worker: ' + w);
        await fs.promises.writeFile('/tmp/n.txt', 'data');
        if ((await fs.promises.readFile('/tmp/n.txt', 'utf8')) !== 'data') throw new Error('fs');
        const server = http.createServer((req, res) => res.end('pong'));
        await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
        const body = await new Promise((ok, ko) => {
          http.get({ host: '127.0.0.1', port: server.address().port }, (res) => {
            let b = '';
            res.on('data', (d) => (b += d));
            res.on('end', () => ok(b));
          }).on('error', ko);
        });
        server.close();
        if (body !== 'pong') throw new Error('http: ' + body);
        console.log('NODE-OK');
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = await sandboxed([process.execPath, '-e', program]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('NODE-OK');
  });

  it.skipIf(!PYTHON)('keeps python working: subprocess, threads, fork, loopback sockets', async () => {
    const program = [
      'import os, socket, subprocess, threading',
      'assert subprocess.run(["/bin/echo", "x"], capture_output=True).stdout == b"x\\n"',
      'out = []',
      't = threading.Thread(target=lambda: out.append(1)); t.start(); t.join(); assert out == [1]',
      'pid = os.fork()',
      'if pid == 0: os._exit(3)',
      'assert os.waitpid(pid, 0)[1] >> 8 == 3',
      's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()',
      'c = socket.create_connection(s.getsockname()); a, _ = s.accept(); c.sendall(b"hi")',
      'assert a.recv(2) == b"hi"',
      'print("PY-OK")',
    ].join('\n');
    const r = await sandboxed([PYTHON ?? 'python3', '-c', program]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('PY-OK');
  });

  it('works through seccompShellPrefix (the wrapper opens the file afresh for each bwrap)', async () => {
    const bwrapCmd = [
      BWRAP ?? 'bwrap',
      ...bwrapArgs(),
      '--seccomp',
      '3',
      '--',
      'grep',
      '^Seccomp:',
      '/proc/self/status',
    ];
    const quoted = bwrapCmd.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
    const script = `${seccompShellPrefix(filterFile)}exec ${quoted}`;
    for (let i = 0; i < 2; i++) {
      const r = await collect(
        spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV }),
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    }
  });

  it('fails closed when a file description is reused: bwrap has read it to the end and refuses to start', async () => {
    const fd = openSync(filterFile, 'r');
    try {
      const run = () =>
        collect(
          spawn(BWRAP ?? 'bwrap', [...bwrapArgs(), '--seccomp', '3', '--', '/bin/echo', 'ran'], {
            stdio: ['ignore', 'pipe', 'pipe', fd],
            env: ENV,
          }),
        );
      const first = await run();
      expect(first.stdout).toContain('ran');
      const second = await run();
      expect(second.code).not.toBe(0);
      expect(second.stdout).not.toContain('ran');
    } finally {
      closeSync(fd);
    }
  });
});
