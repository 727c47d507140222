// The image cannot be built here, so its start is tested with what the image would run: the
// Dockerfile's ENV, ENTRYPOINT script and CMD, at the Dockerfile's paths (/app read-only and
// root-owned, /data, /home/agent), in a fresh root made with bubblewrap as root (like a container:
// /usr, /etc, /lib from the host, the checkout at /app, a temp dir at /data; no capabilities beyond
// what the entry point uses). HOST is 127.0.0.1 instead of the image's 0.0.0.0 when the server
// must actually listen — a test binds loopback only — and 0.0.0.0 where the server must refuse.
// - started as root, the entry point hands /data to uid 10001 and the server runs as 10001, with a
//   working sandbox: the HEALTHCHECK command (scripts/healthcheck.js) says "ready";
// - with a sandbox that cannot work, the server still starts, /health/ready is 503 and the
//   HEALTHCHECK fails naming the sandbox, while the liveness probe passes;
// - started as uid 10001 with a /data it cannot write, the entry point stops and says how to fix it;
// - `docker run -e ANTHROPIC_API_KEY=…` alone (no API_KEYS on 0.0.0.0) exits 2 and says what to add.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { freePort, pollUntil } from '../helpers/net.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;
const DOCKERFILE = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const NODE = realpathSync(process.execPath);

/** The runtime stage's ENV (the last ENV block), e.g. { HOST: '0.0.0.0', DATA_DIR: '/data', … }. */
function imageEnv(): Record<string, string> {
  const blocks = [...DOCKERFILE.matchAll(/^ENV ((?:[^\n]*\\\n)*[^\n]*)$/gm)].map((m) =>
    m[1]!.replace(/\\\n/g, ' '),
  );
  const env: Record<string, string> = {};
  for (const [, k, v] of (blocks.at(-1) ?? '').matchAll(/([A-Z_]+)=(\S+)/g)) env[k!] = v!;
  return env;
}
/** ENTRYPOINT + CMD as the container would run them (tini left out: it only reaps and forwards signals). */
function imageCommand(): string[] {
  const json = (re: RegExp) => JSON.parse(re.exec(DOCKERFILE)?.[1] ?? 'null') as string[];
  const entry = json(/^ENTRYPOINT (\[.*\])$/m).filter((a) => a !== '/usr/bin/tini' && a !== '--');
  return [...entry, ...json(/^CMD (\[.*\])$/m)];
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'container-start-'));
chmodSync(scratch, 0o755);
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

/** bubblewrap arguments of the fresh root: the image's paths, the host's system directories. */
function containerRoot(data: string, home: string): string[] {
  const sys = ['/usr', '/etc', '/bin', '/sbin', '/lib', '/lib64', '/sys'].flatMap((d) => [
    '--ro-bind-try',
    d,
    d,
  ]);
  return [
    ...sys,
    '--dev',
    '/dev',
    // an unmasked /proc, as Docker gives with systempaths=unconfined (bubblewrap's own --proc would
    // cover /proc/sys read-only, like Docker's default, and the server's sandbox could not start)
    '--dev-bind',
    '/proc',
    '/proc',
    '--perms',
    '1777',
    '--tmpfs',
    '/tmp',
    '--ro-bind',
    ROOT,
    '/app',
    '--bind',
    data,
    '/data',
    '--bind',
    home,
    '/home/agent', // the image's useradd --create-home: owned by the agent
    ...['/opt', '/opt/node', '/opt/node/bin'].flatMap((d) => ['--perms', '0755', '--dir', d]),
    '--ro-bind',
    NODE,
    '/opt/node/bin/node',
    '--chdir',
    '/app',
    '--cap-add',
    'ALL',
    '--die-with-parent',
  ];
}

function start(o: { env?: Record<string, string>; asAgent?: boolean; data?: string }) {
  const data = o.data ?? mkdtempSync(path.join(scratch, 'data-'));
  const home = mkdtempSync(path.join(scratch, 'home-'));
  chownSync(home, 10001, 10001);
  const env = {
    ...imageEnv(),
    PATH: '/opt/node/bin:/usr/local/bin:/usr/bin:/bin',
    LOG_LEVEL: 'warn',
    ...o.env,
  };
  const drop = o.asAgent ? ['setpriv', '--reuid=10001', '--regid=10001', '--clear-groups', '--'] : [];
  const child = spawn('bwrap', [...containerRoot(data, home), '--', ...drop, ...imageCommand()], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, data, output: () => out, exited };
}

/** The server process: the entry point exec'd setpriv, which exec'd node — bubblewrap's child. */
function serverPid(bwrapPid: number): number {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === bwrapPid) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no child of ${bwrapPid}`);
}

/** SIGTERM to the server, as tini forwards `docker stop`'s; resolves with the container's exit code. */
async function stop(proc: ReturnType<typeof start>): Promise<number | null> {
  process.kill(serverPid(proc.child.pid!), 'SIGTERM');
  return proc.exited;
}

/** Runs the image's HEALTHCHECK command (from the checkout) against PORT. */
function healthcheck(port: number, ...args: string[]) {
  const cmd = JSON.parse(/^HEALTHCHECK .*CMD (\[.*\])$/m.exec(DOCKERFILE)![1]!) as string[];
  expect(cmd[0]).toBe('node');
  const r = spawnSync(process.execPath, [...cmd.slice(1), ...args], {
    cwd: ROOT,
    env: { PORT: String(port), HOST: '0.0.0.0' },
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

async function listening(port: number, proc: ReturnType<typeof start>) {
  await pollUntil(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`server exited:\n${proc.output()}`);
      return fetch(`http://127.0.0.1:${port}/health/live`).then(
        (r) => r.ok,
        () => false,
      );
    },
    30_000,
    () => new Error(`server did not start:\n${proc.output()}`),
  );
}

describe.skipIf(!HAS_BWRAP || !isRoot)(
  'the container start (Dockerfile ENV, ENTRYPOINT, CMD, HEALTHCHECK)',
  () => {
    it('the image runs the entry point with node src/main.ts, with DATA_DIR=/data and HOST=0.0.0.0', () => {
      expect(imageCommand()).toEqual(['/app/scripts/docker-entrypoint.sh', 'node', 'src/main.ts']);
      expect(imageEnv()).toMatchObject({ HOST: '0.0.0.0', PORT: '3003', DATA_DIR: '/data' });
    });

    it('started as root: /data goes to uid 10001, the server runs as 10001 with a working sandbox, HEALTHCHECK passes', async () => {
      const port = await freePort();
      const proc = start({ env: { HOST: '127.0.0.1', PORT: String(port), API_KEYS: 'k1' } });
      await listening(port, proc);
      const st = statSync(proc.data);
      expect([st.uid, st.gid, st.mode & 0o777]).toEqual([10001, 10001, 0o700]);
      // everything the server wrote belongs to 10001, never to root
      expect(statSync(path.join(proc.data, 'agent.db')).uid).toBe(10001);
      const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
      const body = (await ready.json()) as { checks: Record<string, { status: string; kind?: string }> };
      expect(body.checks.sandbox).toEqual({ status: 'ok', kind: 'bwrap' });
      expect(ready.status).toBe(200);
      expect(healthcheck(port)).toEqual({ status: 0, out: 'ready\n' });
      const uid = /^Uid:\s+(\d+)/m.exec(
        readFileSync(`/proc/${serverPid(proc.child.pid!)}/status`, 'utf8'),
      )?.[1];
      expect(uid).toBe('10001');
      expect(await stop(proc)).toBe(0); // the drain: the entry point exec'd, so the signal reached node
    });

    it('a sandbox that cannot work: the server serves, HEALTHCHECK fails and names it, liveness passes', async () => {
      const port = await freePort();
      const proc = start({
        env: { HOST: '127.0.0.1', PORT: String(port), API_KEYS: 'k1', BWRAP_PATH: '/nonexistent/bwrap' },
      });
      await listening(port, proc);
      const r = healthcheck(port);
      expect(r.status).toBe(1);
      expect(r.out).toMatch(/^not ready \(HTTP 503\): sandbox: .*\/nonexistent\/bwrap/);
      expect(healthcheck(port, '--live')).toEqual({ status: 0, out: 'live\n' });
      expect(await stop(proc)).toBe(0);
      // and with nothing listening at all
      const none = healthcheck(port);
      expect(none.status).toBe(1);
      expect(none.out).toMatch(/^no answer from http:\/\/127\.0\.0\.1:\d+\/health\/ready: ECONNREFUSED/);
    });

    it('started as uid 10001 with a /data it cannot write: the entry point stops and says how to fix it', async () => {
      const data = mkdtempSync(path.join(scratch, 'rootowned-'));
      chmodSync(data, 0o755);
      const proc = start({ asAgent: true, data, env: { HOST: '127.0.0.1', API_KEYS: 'k1' } });
      expect(await proc.exited).toBe(2);
      expect(proc.output()).toContain('DATA_DIR /data is not writable by uid 10001');
      expect(proc.output()).toContain('fsGroup: 10001');
    });

    it('`docker run -e ANTHROPIC_API_KEY=…` alone exits 2 and says what to add', async () => {
      const proc = start({ env: { ANTHROPIC_API_KEY: 'sk-test' } }); // HOST=0.0.0.0 from the image
      expect(await proc.exited).toBe(2);
      const out = proc.output();
      expect(out).toContain('refusing to listen on 0.0.0.0: no authentication is configured');
      expect(out).toContain('docker run -e API_KEYS=$(openssl rand -hex 32)');
      expect(out).toContain('--security-opt seccomp=deploy/seccomp/bwrap.json');
    });
  },
);
