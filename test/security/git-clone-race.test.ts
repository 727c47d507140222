// The clone destination is a path the agent controls. While the git tool clones into `d/cN`, the
// agent's bash swaps `d` between a directory and a symlink to a host directory outside the
// workspace. The server must never create (or list) anything through that symlink with its own
// authority: git creates the destination inside the sandbox, where the link leads nowhere.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { sleep } from '../helpers/sleep.ts';
import { hostGit, makeSecFixture, type SecFixture } from './helpers.ts';

let fx: SecFixture;
let roots: string;
let origin: string;
beforeAll(async () => {
  if (!HAS_BWRAP) return;
  roots = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'sec-race-roots-')));
  fx = await makeSecFixture({ FILE_REPO_ROOTS: roots });
  const seed = path.join(roots, 'seed');
  mkdirSync(seed);
  hostGit(seed, 'init', '-q', '-b', 'main');
  writeFileSync(path.join(seed, 'f.txt'), 'x\n');
  hostGit(seed, 'add', '.');
  hostGit(seed, 'commit', '-qm', 'seed');
  origin = path.join(roots, 'origin.git');
  hostGit(roots, 'clone', '-q', '--bare', seed, origin);
});
afterAll(async () => {
  await fx?.cleanup();
  if (roots) rmSync(roots, { recursive: true, force: true });
});

// renameat2's syscall number (perl has no wrapper for it).
const RENAMEAT2 = process.arch === 'x64' ? 316 : process.arch === 'arm64' ? 276 : null;

describe.skipIf(!HAS_BWRAP || RENAMEAT2 === null)('clone destination swapped for a symlink', () => {
  it('creates nothing outside the workspace on the host', async () => {
    // fx.outside exists on the host and is not visible in the sandbox.
    const before = readdirSync(fx.outside).sort();
    // renameat2(RENAME_EXCHANGE) swaps `d` and `x` atomically, millions of times a second: at any
    // moment `d` is the directory or the symlink, never missing. Runs until the test drops `stop`.
    const swap = [
      `mkdir "d"; symlink("${fx.outside}", "x"); my ($p, $q) = ("d", "x"); my $n = 0;`,
      'while (!-e "stop" && $n < 100000) {',
      `  for (1..1000) { syscall(${RENAMEAT2}, -100, $p, -100, $q, 2) == 0 or die "exchange: $!"; }`,
      '  $n++;',
      '}',
      'print "swapped $n\\n";',
    ].join(' ');
    const swapper = fx.bash(`perl -e '${swap}'`, 90_000);
    const appeared = new Set<string>();
    const watch = setInterval(() => {
      for (const n of readdirSync(fx.outside)) if (!before.includes(n)) appeared.add(n);
    }, 2);
    try {
      // Start once the swapper runs; then many attempts, spread out so that the swapper (which a
      // busy machine may pause) gets scheduled in between.
      while (!existsSync(path.join(fx.workspace, 'x'))) await sleep(5);
      for (let i = 0; i < 150; i++) {
        // Refused (path guard), failed (git met the link in the sandbox) or cloned into the workspace.
        await fx.git({ operation: 'clone', repoUrl: origin, path: `d/c${i}` }).catch(() => undefined);
        await sleep(3);
      }
    } finally {
      writeFileSync(path.join(fx.workspace, 'stop'), '');
      clearInterval(watch);
    }
    expect((await swapper).output).toMatch(/swapped [1-9]/);
    for (const n of readdirSync(fx.outside)) if (!before.includes(n)) appeared.add(n);
    // On the old code (mkdir + readdir by the server) c<N> directories appeared here.
    expect([...appeared]).toEqual([]);
  });
});
