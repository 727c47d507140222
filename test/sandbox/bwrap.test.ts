// The bubblewrap wrapper's command line and refusals (no process is started here except the probe;
// the attacks themselves are in test/security).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../src/config.ts';
import { type BwrapSandbox, createBwrapSandbox, sanitizeEnv } from '../../src/sandbox/bwrap/bwrap.ts';
import type { ProcessSpec } from '../../src/sandbox/types.ts';
import { WorkspaceManager } from '../../src/sandbox/workspace/manager.ts';
import { HAS_BWRAP } from '../helpers/bwrap.ts';

const serverDir = path.resolve(import.meta.dirname, '..', '..');

describe.skipIf(!HAS_BWRAP)('bwrap wrapper', () => {
  let tmp: string;
  let config: Config;
  let sb: BwrapSandbox;
  let ws: string;
  let home: string;
  beforeAll(async () => {
    tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'bwrap-unit-')));
    config = loadConfig({ DATA_DIR: tmp, SANDBOX: 'bwrap', ANTHROPIC_API_KEY: 'sk-ant-unit-secret-123' });
    sb = createBwrapSandbox({ config, dataDir: tmp, limits: { cgroup: 'off' } });
    await sb.ready();
    // Through the manager: on a root server it gives the session its own uid (identity.ts).
    const wm = new WorkspaceManager(tmp, { identities: sb.identities });
    ws = await wm.ensure('s1');
    home = await wm.homeFor('s1');
  });
  afterAll(async () => {
    await sb.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const spec = (over: Partial<ProcessSpec> = {}): ProcessSpec => ({
    command: 'bash',
    args: ['-c', 'true'],
    cwd: ws,
    workspace: ws,
    env: { PATH: '/usr/bin:/bin', HOME: home, TMPDIR: path.join(home, 'tmp') },
    ...over,
  });
  /** [src, dest] of every bind in the command line. */
  const binds = (args: string[]) => {
    const out: Array<{ kind: string; src: string; dest: string }> = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i] as string;
      if (a === '--') break;
      if (a === '--bind' || a === '--ro-bind')
        out.push({ kind: a, src: args[i + 1] as string, dest: args[i + 2] as string });
    }
    return out;
  };

  it('isolates every namespace, drops capabilities and dies with its parent', () => {
    const w = sb.wrap(spec());
    // A small sh opens the seccomp program as fd 3 for bwrap (and joins cgroups when there are).
    expect(w.command).toBe('/bin/sh');
    expect(w.args.slice(0, 3)).toEqual([
      '-c',
      expect.stringMatching(/^exec 3<'.*seccomp\.bpf' && /),
      'sandbox',
    ]);
    expect(w.args).toContain(sb.info.bwrapPath);
    expect(w.args.join(' ')).toContain('--seccomp 3');
    expect(sb.info.seccomp).toBe(true);
    for (const f of [
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-net',
      '--die-with-parent',
      '--new-session',
    ]) {
      expect(w.args).toContain(f);
    }
    expect(w.args.join(' ')).toContain('--cap-drop ALL');
    if (sb.info.mode === 'userns') expect(w.args).toContain('--unshare-user');
    else {
      // A root server: no user namespace mapping to host root; setpriv drops to the session's uid.
      expect(w.args).not.toContain('--unshare-user');
      const inner = w.args.slice(w.args.indexOf('--') + 1);
      expect(inner[0]).toMatch(/setpriv$/);
      expect(inner).toContain(`--reuid=${sb.identities?.first}`);
      expect(inner).toContain('--no-new-privs');
      expect(inner).toContain('--bounding-set=-all');
    }
    // The host network is never shared, not even for network-enabled processes.
    expect(sb.wrap(spec({ network: true })).args).toContain('--unshare-net');
  });

  it('binds the workspace and home read-write at their own paths and nothing else of DATA_DIR', () => {
    const w = sb.wrap(spec());
    const b = binds(w.args);
    expect(b).toContainEqual({ kind: '--bind', src: ws, dest: ws });
    expect(b).toContainEqual({ kind: '--bind', src: home, dest: home });
    const rw = b.filter((x) => x.kind === '--bind').map((x) => x.src);
    expect(rw.sort()).toEqual([home, ws].sort());
    for (const x of b) {
      for (const forbidden of [
        tmp,
        path.join(tmp, 'workspaces'),
        serverDir,
        '/root',
        '/home',
        '/run',
        '/var',
        '/etc',
      ]) {
        expect(x.src, `${x.kind} ${x.src}`).not.toBe(forbidden);
        if (x.src !== ws && x.src !== home) {
          expect(x.src.startsWith(`${forbidden}/`) && forbidden === tmp, `${x.src} under DATA_DIR`).toBe(
            false,
          );
        }
      }
      expect(x.src).not.toMatch(/^\/etc\//);
    }
    // /etc is assembled from an allowlist, with a synthetic passwd/group.
    expect(b.find((x) => x.dest === '/etc/passwd')?.src).toContain(sb.info.runtimeDir);
    const etc = b.find((x) => x.dest === '/etc');
    expect(etc?.kind).toBe('--ro-bind');
    expect(etc?.src).toBe(path.join(sb.info.runtimeDir, 'etc'));
    const copied = readdirSync(etc?.src ?? '');
    for (const secret of [
      'shadow',
      'gshadow',
      'shadow-',
      'sudoers',
      'environment',
      'npmrc',
      'pip.conf',
      'machine-id',
    ]) {
      expect(copied).not.toContain(secret);
    }
    expect(existsSync(path.join(etc?.src ?? '', 'ssh', 'ssh_host_rsa_key'))).toBe(false);
    expect(existsSync(path.join(etc?.src ?? '', 'ssl', 'private'))).toBe(false);
    expect(b.some((x) => x.dest === '/etc/shadow')).toBe(false);
    expect(w.args.join(' ')).toMatch(/--tmpfs \/tmp/);
    expect(w.args.join(' ')).toMatch(/--proc \/proc /);
    expect(w.args.join(' ')).toMatch(/--dev \/dev /);
    // /proc/sys and friends read-only whoever runs bwrap; kcore and others masked.
    expect(w.args.join(' ')).toContain('--ro-bind-try /proc/sys /proc/sys');
    expect(w.args.join(' ')).toContain('--ro-bind-try /proc/sysrq-trigger /proc/sysrq-trigger');
    expect(w.args.join(' ')).toMatch(/--chdir \S+ --/);
  });

  it('binds only the node binary directory, never /root', () => {
    const b = binds(sb.wrap(spec()).args);
    const nodeDir = path.dirname(realpathSync(process.execPath));
    if (!nodeDir.startsWith('/usr/'))
      expect(b.some((x) => x.src === nodeDir && x.kind === '--ro-bind')).toBe(true);
    expect(b.some((x) => x.src === '/root' || x.src === os.homedir())).toBe(false);
  });

  it('puts the env in the process environment (not argv) and strips secrets', () => {
    const w = sb.wrap(
      spec({
        env: {
          PATH: '/usr/bin:/bin',
          HOME: home,
          ANTHROPIC_API_KEY: 'x',
          API_KEYS: 'x',
          SIGNING_SECRET: 'x',
          GITHUB_TOKEN: 'x',
          MCP_AUTH_TOKEN: 'x',
          DATABASE_URL: 'x',
          REDIS_URL: 'x',
          MY_PASSWORD: 'x',
          SNEAKY: 'Bearer sk-ant-unit-secret-123',
          HTTPS_PROXY: 'http://attacker',
          KEEP: 'yes',
        },
      }),
    );
    expect(w.env).toEqual({ PATH: '/usr/bin:/bin', HOME: home, KEEP: 'yes' });
    expect(w.args.join(' ')).not.toContain('KEEP');
    expect(w.args).not.toContain('--setenv');
  });

  it('keeps the git push credential variables (base64 header, not a secret name)', () => {
    const env = sanitizeEnv(
      {
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'http.https://github.com/.extraHeader',
        GIT_CONFIG_VALUE_0: 'Authorization: Basic eA==',
      },
      { ...config, githubToken: 'ghp_realtoken' },
    );
    expect(Object.keys(env)).toHaveLength(3);
  });

  it('replaces an unsafe HOME/TMPDIR with the private /tmp', () => {
    const w = sb.wrap(spec({ env: { HOME: '/root', TMPDIR: '/var/tmp/x' } }));
    expect(w.env.HOME).toBe('/tmp');
    expect(w.env.TMPDIR).toBe('/tmp');
    expect(binds(w.args).some((x) => x.src === '/root')).toBe(false);
  });

  it('refuses workspaces that would expose the host', () => {
    for (const bad of [
      '/',
      '/root',
      '/etc',
      '/usr/lib',
      tmp,
      path.join(tmp, 'workspaces'),
      serverDir,
      path.dirname(serverDir),
      '/home',
    ]) {
      expect(() => sb.wrap(spec({ workspace: bad, cwd: bad })), bad).toThrow(/refusing workspace/);
    }
    expect(() => sb.wrap(spec({ cwd: '/tmp' }))).toThrow(/outside the workspace/);
    // A symlink that looks harmless but leads to / (or the data dir) is judged by its target.
    const link = path.join(tmp, 'innocent-link');
    symlinkSync('/', link);
    expect(() => sb.wrap(spec({ workspace: link, cwd: link }))).toThrow(/refusing workspace/);
  });

  it("gives a 'tools' egress process the allowlist-only gate, git the clone gate, bash none — per session", () => {
    const egressSrc = (over: Partial<ProcessSpec>) => {
      const w = sb.wrap(spec(over));
      w.release?.();
      return binds(w.args).find((b) => b.dest.endsWith('/egress.sock'))?.src;
    };
    const git = egressSrc({ network: true });
    const tools = egressSrc({ network: true, egress: 'tools' });
    expect(git).toMatch(new RegExp(`^${sb.info.runtimeDir}/egress/[0-9a-f]+\\.sock$`));
    expect(tools).toMatch(new RegExp(`^${sb.info.runtimeDir}/egress/[0-9a-f]+\\.sock$`));
    expect(tools).not.toBe(git);
    expect(egressSrc({ network: true })).toBe(git); // the same session's gate is reused
    expect(egressSrc({})).toBeUndefined(); // no allowlist: a tool process gets no network at all
    expect(sb.egressGates().map((g) => g.key)).toEqual(expect.arrayContaining([`git:${ws}`, `tools:${ws}`]));
  });

  it('binds requested host paths only when safe', () => {
    const outside = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'bwrap-remote-')));
    try {
      const b = binds(sb.wrap(spec({ hostPaths: [{ path: outside }] })).args);
      expect(b).toContainEqual({ kind: '--ro-bind', src: outside, dest: outside });
      const rw = binds(sb.wrap(spec({ hostPaths: [{ path: outside, writable: true }] })).args);
      expect(rw).toContainEqual({ kind: '--bind', src: outside, dest: outside });
      for (const bad of ['/', '/etc', tmp, path.join(tmp, 'workspaces'), serverDir]) {
        expect(() => sb.wrap(spec({ hostPaths: [{ path: bad }] })), bad).toThrow(/refusing host path/);
      }
      mkdirSync(path.join(tmp, 'workspaces', 'other'), { recursive: true });
      expect(() => sb.wrap(spec({ hostPaths: [{ path: path.join(tmp, 'workspaces', 'other') }] }))).toThrow(
        /DATA_DIR/,
      );
      // git binds host paths only for local repositories: nothing INSIDE a protected place either
      // (the server's own .git, its node_modules, /root, /home), even read-only.
      const git = (p: string, writable = false) =>
        sb.wrap(spec({ command: 'git', args: ['fetch'], hostPaths: [{ path: p, writable }] }));
      expect(binds(git(outside, true).args)).toContainEqual({ kind: '--bind', src: outside, dest: outside });
      const inside = [path.join(serverDir, 'node_modules'), path.join(serverDir, 'src'), os.homedir()];
      for (const d of ['/root', '/home']) if (existsSync(d)) inside.push(d);
      for (const bad of inside) {
        expect(() => git(bad), bad).toThrow(/refusing host path/);
        expect(() => git(bad, true), bad).toThrow(/refusing host path/);
      }
      // Other processes keep the plain rule: the Claude Code CLI's folder in node_modules, read-only.
      const cli = path.join(serverDir, 'node_modules');
      expect(binds(sb.wrap(spec({ hostPaths: [{ path: cli }] })).args)).toContainEqual({
        kind: '--ro-bind',
        src: cli,
        dest: cli,
      });
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('applies rlimits (hard = soft): with prlimit inside, or — on a root server — with the wrapping sh', () => {
    const w = sb.wrap(spec());
    const i = w.args.indexOf('--');
    let inner = w.args.slice(i + 1);
    if (sb.info.mode === 'drop') inner = inner.slice(inner.indexOf('--') + 1); // after the setpriv prefix
    if (sb.info.shellLimits) {
      // set while the sh is still root, inherited through bwrap and setpriv; one exec less
      expect(w.args[1]).toContain(`ulimit -n ${sb.limits.openFiles}`);
      expect(w.args[1]).toContain(`ulimit -t ${sb.limits.cpuSeconds}`);
      expect(w.args[1]).toMatch(/ulimit -f \d+/);
      expect(w.args[1]).toContain('ulimit -c 0');
      expect(inner[0]).not.toMatch(/prlimit$/);
    } else if (sb.info.prlimit) {
      expect(inner[0]).toMatch(/prlimit$/);
      expect(inner).toContain(`--fsize=${sb.limits.fileSizeBytes}`);
      expect(inner).toContain(`--nofile=${sb.limits.openFiles}`);
      expect(inner).toContain(`--cpu=${sb.limits.cpuSeconds}`);
    }
    expect(inner.slice(-3)).toEqual(['bash', '-c', 'true']);
  });

  it('routes network-enabled processes through the egress forwarder', () => {
    const w = sb.wrap(spec({ network: true }));
    w.release?.();
    expect(binds(w.args).some((x) => x.dest === '/run/duyetbot/egress.sock')).toBe(true);
    expect(w.args.join(' ')).toContain(
      '/run/duyetbot/netfwd.cjs serve /run/duyetbot/egress.sock bash -c true',
    );
    const off = sb.wrap(spec());
    expect(off.args.join(' ')).not.toContain('egress.sock');
  });
});
