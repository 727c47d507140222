// Attacks through the `bash` tool on the bubblewrap sandbox: reading secrets, the data dir, other
// workspaces, the server; writing outside the workspace; escaping the namespaces. Each must fail.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { FAKE_SECRETS, makeSecFixture, SECRET_MARK, SERVER_DIR, type SecFixture } from './helpers.ts';

let fx: SecFixture;
beforeAll(async () => {
  if (HAS_BWRAP) fx = await makeSecFixture();
});
afterAll(() => fx?.cleanup());

/** A line of the host's /etc/shadow that must never show up (e.g. `root:<hash>:…`). */
function hostShadowLines(): string[] {
  try {
    return readFileSync('/etc/shadow', 'utf8')
      .split('\n')
      .filter((l) => l.includes(':'));
  } catch {
    return [];
  }
}

describe.skipIf(!HAS_BWRAP)('bash confinement', () => {
  it('cat /etc/shadow (and gshadow, sudoers, ssh host keys) shows no real content', async () => {
    const r = await fx.bash(
      'cat /etc/shadow /etc/gshadow /etc/shadow- /etc/sudoers /etc/ssh/ssh_host_*_key 2>&1; ls /etc/ssl/private 2>&1; ls /etc',
    );
    for (const line of hostShadowLines()) expect(r.output).not.toContain(line);
    expect(r.output).toMatch(/\/etc\/shadow: No such file/);
    expect(r.output).not.toMatch(/PRIVATE KEY/);
    expect(r.output.split('\n')).not.toContain('shadow');
  });

  it('the data dir (database, audit log) is not there', async () => {
    const r = await fx.bash(
      `cat ${fx.tmp}/agent.db ${fx.tmp}/audit/audit.log 2>&1; ls -la ${fx.tmp} 2>&1; find ${fx.tmp} -maxdepth 3 2>&1 | head -50; grep -rsl TOPSECRET /tmp /etc /root /home /run /var / --exclude-dir=usr --exclude-dir=proc --exclude-dir=sys 2>/dev/null | head`,
    );
    expect(r.output).not.toContain('TOPSECRET');
    expect(r.output).not.toContain('agent.db\n');
    expect(r.output).toMatch(/agent\.db: No such file/);
  });

  it('another session’s workspace is not there', async () => {
    const r = await fx.bash(`cat ${fx.other}/secret.txt 2>&1; ls ${path.dirname(fx.other)} 2>&1`);
    expect(r.output).not.toContain('TOPSECRET');
    expect(r.output).not.toMatch(/^other$/m);
  });

  it('the server checkout, /root and /home are not there', async () => {
    const r = await fx.bash(
      `cat ${SERVER_DIR}/package.json 2>&1; ls ${SERVER_DIR} 2>&1; ls -A /root 2>&1; ls -A /home 2>&1; ls /run /var 2>&1; cat ~/.bash_history /root/.ssh/id_rsa 2>&1`,
    );
    expect(r.output).not.toContain('duyetbot-agent-server');
    expect(r.output).not.toMatch(/id_rsa\n|BEGIN/);
    expect(r.output).toMatch(/package\.json: No such file/);
  });

  it('env shows no secret, even ones leaked into the tool env', async () => {
    const r = await fx.bash('env; echo; set');
    expect(r.output).not.toContain(SECRET_MARK);
    for (const name of Object.keys(FAKE_SECRETS)) expect(r.output).not.toMatch(new RegExp(`^${name}=`, 'm'));
    expect(r.output).toContain(`HOME=${fx.ctx.env.HOME}`);
  });

  it('/proc/1/environ, /proc/*/environ and /proc/*/cmdline show no secret (and no host process)', async () => {
    const r = await fx.bash(
      "for f in /proc/1/environ /proc/*/environ /proc/*/cmdline; do tr '\\0' '\\n' < $f; done 2>&1; ls /proc | grep -E '^[0-9]+$' | wc -l",
    );
    expect(r.output).not.toContain(SECRET_MARK);
    // Only the sandbox's own few processes are visible (bwrap's init, bash, tr, ls, …).
    const count = Number(r.output.trim().split('\n').slice(-2, -1)[0]);
    expect(count).toBeLessThan(10);
    // The server itself is invisible: its pid is not in the sandbox's /proc.
    const me = await fx.bash(`cat /proc/${process.pid}/cmdline 2>&1 | head -c 200`);
    expect(me.output).not.toContain('vitest');
  });

  it('writing outside the workspace fails (/usr, /root, /etc, /, /dev, the server dir) and never reaches the host', async () => {
    const targets = [
      '/usr/pwned',
      '/root/pwned',
      '/etc/pwned',
      '/pwned',
      `${SERVER_DIR}/pwned`,
      '/dev/pwned',
    ];
    const r = await fx.bash(targets.map((t) => `touch ${t} && echo WROTE ${t}`).join('; '));
    expect(r.output).not.toContain('WROTE');
    for (const t of targets) expect(existsSync(t), t).toBe(false);
    // The data dir's path inside the sandbox is only scaffolding for the workspace mount: when it
    // sits under /tmp a write lands in the sandbox's private tmpfs and vanishes; never on the host.
    await fx.bash(`touch ${fx.tmp}/pwned ${fx.tmp}/workspaces/pwned ${fx.other}/pwned 2>&1`);
    for (const t of [`${fx.tmp}/pwned`, `${fx.tmp}/workspaces/pwned`, `${fx.other}/pwned`])
      expect(existsSync(t), t).toBe(false);
    // The workspace itself is writable, and files land at the same path on the host.
    const ok = await fx.bash('echo hello > inside.txt && pwd');
    expect(ok.output).toContain(fx.workspace);
    expect(readFileSync(path.join(fx.workspace, 'inside.txt'), 'utf8')).toBe('hello\n');
  });

  it('no capabilities, no mounts, no nested user namespaces, no ptrace of the host', async () => {
    const r = await fx.bash(
      'grep CapEff /proc/self/status; mount -t tmpfs none /tmp/x 2>&1 && echo MOUNTED; unshare -U true 2>&1 && echo UNSHARED; ' +
        'mknod /tmp/vda b 253 0 2>&1 && echo MKNOD; echo 1 > /proc/sys/kernel/sysrq 2>&1 && echo SYSCTL; id -u',
    );
    expect(r.output).toMatch(/CapEff:\s+0+\n/);
    expect(r.output).not.toMatch(/MOUNTED|UNSHARED|MKNOD|SYSCTL/);
  });

  it('kill -9 -1 only kills the sandbox, never host processes', async () => {
    const host = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const r = await fx.bash('sleep 20 & kill -9 -1; wait; echo after');
      expect(r.output).toContain('after');
      expect(host.exitCode).toBeNull();
      expect(() => execFileSync('kill', ['-0', String(host.pid)])).not.toThrow();
    } finally {
      host.kill('SIGKILL');
    }
  });
});
