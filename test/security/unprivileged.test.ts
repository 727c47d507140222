// The adversarial suite again, as an UNPRIVILEGED user. CI runs as root, where the sandbox drops
// each session to its own uid; a server started by an ordinary user takes the other path (a user
// namespace in which the agent is uid 1000 = the server's uid). Both must hold. This test creates a
// system user, gives it a private copy of the checkout (node_modules shared read-only) and the node
// binary when the originals are not reachable by it, and runs the sandbox attack files — plus the
// sandboxed end-to-end flow, which starts the real server — under that user with vitest.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { SERVER_DIR } from './helpers.ts';

const USER = 'duyetbot-ci';
const FILES = [
  'test/security/host-identity.test.ts',
  'test/security/fs-race.test.ts',
  'test/security/fifo.test.ts',
  'test/security/fs-escape.test.ts',
  'test/security/bash-confinement.test.ts',
  'test/security/network.test.ts',
  'test/security/resource-limits.test.ts',
  'test/security/git-sandboxed.test.ts',
  'test/security/git-local-remotes.test.ts',
  'test/security/git-clone-race.test.ts',
  'test/sandbox/seccomp-bwrap.test.ts',
  'test/sandbox/bwrap-run.test.ts',
  'test/integration/session-e2e-sandboxed.test.ts',
  'test/integration/responsiveness.test.ts',
  'test/security/http-edges.test.ts',
  'test/security/llm-proxy.test.ts',
  'test/workflows/callback-security.test.ts',
  'test/alerts/sinks.test.ts',
  'test/security/ws-ticket.test.ts',
  'test/security/github-token.test.ts',
  'test/security/claude-spares.test.ts',
];

const isRoot = process.getuid?.() === 0;
const inner = process.env.UNPRIVILEGED_RUN === '1';

let scratch: string | undefined;
afterAll(() => {
  if (scratch && !process.env.KEEP_SCRATCH) rmSync(scratch, { recursive: true, force: true });
});

/** uid and gid of USER, creating it (a system user without a home or a login shell) if needed. */
function ensureUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, USER], { encoding: 'utf8' }).trim());
  if (spawnSync('id', [USER]).status !== 0) {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
  }
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Whether any user can reach `file`: every ancestor directory searchable by others. (Asking the
 * kernel through setpriv is misleading: it executes the first binary before the new uid applies
 * to path lookups, so a node under /root starts — and then cannot spawn its own workers.)
 */
function worldReachable(file: string): boolean {
  let dir = path.dirname(file);
  for (;;) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    const up = path.dirname(dir);
    if (up === dir) return true;
    dir = up;
  }
}

describe.skipIf(!HAS_BWRAP || !isRoot || inner)('the sandbox attack suite as an unprivileged user', () => {
  it('passes entirely when the server is an ordinary user', async () => {
    const user = ensureUser();
    scratch = mkdtempSync(path.join(os.tmpdir(), 'duyetbot-unpriv-'));
    chmodSync(scratch, 0o755);
    // node: the running binary, or a copy the user can reach (e.g. when it lives under /root).
    let node = process.execPath;
    if (!worldReachable(node)) {
      const dir = path.join(scratch, 'node-bin');
      mkdirSync(dir, { mode: 0o755 });
      const copy = path.join(dir, 'node');
      try {
        linkSync(node, copy);
      } catch {
        cpSync(node, copy);
      }
      chmodSync(copy, 0o755);
      node = copy;
    }
    // The checkout: sources copied and owned by the user (tests write under it, e.g. .tmp/);
    // node_modules shared read-only when reachable, else hard-linked.
    const repo = path.join(scratch, 'repo');
    mkdirSync(repo);
    for (const entry of ['src', 'test', 'package.json', 'tsconfig.json', 'vitest.config.ts']) {
      cpSync(path.join(SERVER_DIR, entry), path.join(repo, entry), { recursive: true });
    }
    execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, repo]);
    const modules = path.join(SERVER_DIR, 'node_modules');
    const reachable = worldReachable(path.join(modules, 'vitest', 'package.json'));
    // A node_modules of the user's own (vite writes a temp file into it) whose packages are links
    // to the shared ones.
    const ownModules = path.join(repo, 'node_modules');
    if (reachable) {
      mkdirSync(ownModules);
      for (const name of readdirSync(modules)) {
        if (name.startsWith('.vite')) continue; // vite's and vitest's own scratch directories
        symlinkSync(path.join(modules, name), path.join(ownModules, name));
      }
      execFileSync('chown', ['-h', '-R', `${user.uid}:${user.gid}`, ownModules]);
    } else {
      execFileSync('cp', ['-al', modules, ownModules]);
    }
    const home = path.join(scratch, 'home');
    mkdirSync(home);
    execFileSync('chown', [`${user.uid}:${user.gid}`, home]);
    const report = path.join(home, 'report.json');

    const r = spawnSync(
      'setpriv',
      [
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        '--clear-groups',
        '--',
        node,
        path.join(repo, 'node_modules', 'vitest', 'vitest.mjs'),
        'run',
        ...FILES,
        '--no-cache',
        `--fsModuleCachePath=${path.join(home, 'vitest-cache')}`,
        '--reporter=json',
        `--outputFile=${report}`,
      ],
      {
        cwd: repo,
        encoding: 'utf8',
        timeout: 420_000,
        env: {
          PATH: `${path.dirname(node)}:/usr/local/bin:/usr/bin:/bin`,
          HOME: home,
          LANG: 'C.UTF-8',
          UNPRIVILEGED_RUN: '1',
        },
      },
    );
    expect(existsSync(report), `${r.stdout}\n${r.stderr}`).toBe(true);
    const res = JSON.parse(readFileSync(report, 'utf8')) as {
      numPassedTests: number;
      numFailedTests: number;
      numPendingTests: number;
      testResults: Array<{
        name: string;
        assertionResults: Array<{ fullName: string; status: string; failureMessages: string[] }>;
      }>;
    };
    const failed = res.testResults.flatMap((f) =>
      f.assertionResults
        .filter((a) => a.status === 'failed')
        .map(
          (a) =>
            `${path.relative(repo, f.name)} › ${a.fullName}: ${a.failureMessages.join('\n').slice(0, 600)}`,
        ),
    );
    expect(failed, failed.join('\n\n')).toEqual([]);
    expect(res.numFailedTests).toBe(0);
    // Every file ran (none failed to load), and the attacks really ran rather than skipped.
    expect(
      res.testResults.map((f) => path.relative(repo, f.name)).sort(),
      `${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`,
    ).toEqual([...FILES].sort());
    expect(res.numPassedTests).toBeGreaterThan(60);
  }, 480_000);
});
