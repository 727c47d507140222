// The `fs` tool runs in the server, with the server's authority, while the agent's `bash` runs in
// the same turn. Here a sandboxed perl loop swaps `d` between a real directory and a symlink to a
// HOST directory (which the sandbox cannot see, but the server can) with renameat2(RENAME_EXCHANGE),
// millions of times a second, while every fs operation hammers paths under `d` for at least 10 s
// each (all at once). What the review reproduced on the old code: another tenant's file read, a
// root-owned line written into a host directory, files moved out, all files of a host directory
// deleted. Nothing of that may happen: the host directories must come out byte for byte intact and
// no output may carry their content.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { sleep } from '../helpers/sleep.ts';
import { makeSecFixture, type SecFixture } from './helpers.ts';

const RENAMEAT2 = process.arch === 'x64' ? 316 : process.arch === 'arm64' ? 276 : null;
const SWAP_SECONDS = Number(process.env.FS_RACE_SECONDS ?? 10);
const MARK = 'TOPSECRET-race';

let fx: SecFixture;
let victim: string;
let cron: string;
beforeAll(async () => {
  if (!HAS_BWRAP) return;
  fx = await makeSecFixture();
  // Host directories outside every workspace: another tenant's files and a cron-like directory.
  victim = path.join(fx.outside, 'victim');
  cron = path.join(fx.outside, 'cron.d');
  mkdirSync(victim);
  mkdirSync(cron);
  for (let i = 0; i < 2000; i++)
    writeFileSync(path.join(victim, `f${String(i).padStart(4, '0')}`), `victim-${i}\n`);
  writeFileSync(path.join(victim, 'secret.txt'), `${MARK} do not read\n`);
  mkdirSync(path.join(victim, 'sub'));
  writeFileSync(path.join(victim, 'sub', 'deep.txt'), `${MARK} deep\n`);
});
afterAll(() => fx?.cleanup());

/** The agent's swapper: `name` ↔ a symlink to `target`, until the file `stop` appears. */
function swapper(name: string, target: string): string {
  return [
    `mkdir "${name}"; mkdir "${name}/sub"; for (0..20) { open(my $f, ">", "${name}/f" . sprintf("%04d", $_)); print $f "inside\\n"; close $f; }`,
    `open(my $s, ">", "${name}/secret.txt"); print $s "inside secret\\n"; close $s;`,
    `symlink("${target}", "${name}.x"); my ($p, $q) = ("${name}", "${name}.x"); my $n = 0;`,
    'while (!-e "stop") {',
    `  for (1..1000) { syscall(${RENAMEAT2}, -100, $p, -100, $q, 2) == 0 or die "exchange: $!"; }`,
    '  $n++;',
    '}',
    `print "swapped ${name} $n\\n";`,
  ].join(' ');
}

interface OpStats {
  calls: number;
  outputs: string[];
}

/** Repeats `op` until `deadline`, collecting every output and error message. */
async function hammer(deadline: number, op: (i: number) => Promise<string>): Promise<OpStats> {
  const stats: OpStats = { calls: 0, outputs: [] };
  for (let i = 0; Date.now() < deadline; i++) {
    stats.calls++;
    try {
      stats.outputs.push(await op(i));
    } catch (err) {
      stats.outputs.push(String((err as Error).message));
    }
    if (i % 20 === 0) await sleep(1); // let the swapper be scheduled on a busy machine
  }
  return stats;
}

describe.skipIf(!HAS_BWRAP || RENAMEAT2 === null)('fs tool under a parallel symlink swap', () => {
  it(
    `every operation, ${SWAP_SECONDS} s each, never reaches the host directories`,
    async () => {
      const swapD = fx.bash(`perl -e '${swapper('d', victim)}'`, (SWAP_SECONDS + 60) * 1000);
      const swapC = fx.bash(`perl -e '${swapper('c', cron)}'`, (SWAP_SECONDS + 60) * 1000);
      while (!existsSync(path.join(fx.workspace, 'd.x')) || !existsSync(path.join(fx.workspace, 'c.x'))) {
        await sleep(5);
      }
      const deadline = Date.now() + SWAP_SECONDS * 1000;
      const fs = async (input: Record<string, unknown>) => {
        const r = await fx.fs(input);
        return r.output;
      };
      const ops = {
        read: (i: number) => fs({ operation: 'read', path: i % 2 ? 'd/secret.txt' : 'd/sub/deep.txt' }),
        write: (i: number) =>
          fs({ operation: 'write', path: `c/new${i % 7}/evil-${i}`, content: '* * * * * root pwned\n' }),
        edit: () => fs({ operation: 'edit', path: 'd/secret.txt', oldString: 'secret', newString: 'PWNED' }),
        list: () => fs({ operation: 'list', path: 'd', recursive: true }),
        delete: (i: number) => fs({ operation: 'delete', path: `d/f${String(i % 2000).padStart(4, '0')}` }),
        move: (i: number) =>
          fs({
            operation: 'move',
            path: `d/f${String((i * 7) % 2000).padStart(4, '0')}`,
            destination: `moved-${i}`,
          }),
        copy: (i: number) => fs({ operation: 'copy', path: 'd/secret.txt', destination: `copied-${i}.txt` }),
        search: () => fs({ operation: 'search', path: 'd', pattern: 'TOPSECRET|victim' }),
      };
      let results: Record<string, OpStats>;
      try {
        const entries = await Promise.all(
          Object.entries(ops).map(async ([name, op]) => [name, await hammer(deadline, op)] as const),
        );
        results = Object.fromEntries(entries);
      } finally {
        writeFileSync(path.join(fx.workspace, 'stop'), '');
      }
      expect((await swapD).output).toMatch(/swapped d [1-9]/);
      expect((await swapC).output).toMatch(/swapped c [1-9]/);

      for (const [name, s] of Object.entries(results)) {
        expect(s.calls, name).toBeGreaterThan(10);
        for (const out of s.outputs) {
          expect(out, `${name} output`).not.toContain(MARK);
          expect(out, `${name} output`).not.toMatch(/victim-\d/);
        }
      }
      // The host directories are exactly as they were.
      const names = readdirSync(victim).sort();
      expect(names.length).toBe(2002);
      expect(readFileSync(path.join(victim, 'secret.txt'), 'utf8')).toBe(`${MARK} do not read\n`);
      expect(readFileSync(path.join(victim, 'sub', 'deep.txt'), 'utf8')).toBe(`${MARK} deep\n`);
      for (let i = 0; i < 2000; i += 97) {
        expect(readFileSync(path.join(victim, `f${String(i).padStart(4, '0')}`), 'utf8')).toBe(
          `victim-${i}\n`,
        );
      }
      expect(readdirSync(cron)).toEqual([]);
      // Nothing came out of them into the workspace either.
      for (const n of readdirSync(fx.workspace)) {
        if (!/^(moved-|copied-)/.test(n)) continue;
        const p = path.join(fx.workspace, n);
        expect(readFileSync(p, 'utf8'), n).not.toMatch(/TOPSECRET|victim-/);
      }
    },
    (SWAP_SECONDS + 120) * 1000,
  );
});
