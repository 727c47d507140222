// FIFOs (and other special files) the agent plants where the server reads. An open(2) without
// O_NONBLOCK on a FIFO blocks until a writer appears: four `fs read` calls on FIFOs used to pin
// all four libuv threads and stop the whole server (file I/O, DNS, both proxies). Every server-side
// open of an agent-writable path is now O_NONBLOCK and checked with fstat.
import { promises as dnsp } from 'node:dns';
import { promises as fsp } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskUsage } from '../../src/sandbox/workspace/disk-quota.ts';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { makeSecFixture, type SecFixture } from './helpers.ts';

let fx: SecFixture;
beforeAll(async () => {
  if (!HAS_BWRAP) return;
  fx = await makeSecFixture();
  const r = await fx.bash(
    'for i in 1 2 3 4 5 6 7 8; do mkfifo "p$i"; done; mkdir -p dir/sub && mkfifo dir/q dir/sub/q && echo hit > dir/a.txt && echo made',
  );
  if (!r.output.includes('made')) throw new Error(r.output);
});
afterAll(() => fx?.cleanup());

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (err: { code?: string }) => err.code ?? 'error',
  );

describe.skipIf(!HAS_BWRAP)('FIFOs in the workspace', () => {
  it('eight parallel reads of FIFOs are refused at once and the server keeps doing I/O and DNS', async () => {
    const t0 = Date.now();
    const codes = await Promise.all(
      [1, 2, 3, 4, 5, 6, 7, 8].map((i) => code(fx.fs({ operation: 'read', path: `p${i}` }))),
    );
    expect(codes).toEqual(Array(8).fill('invalid_input'));
    // The libuv pool is free: file reads and name resolution go on.
    await fsp.readFile('/etc/hostname').catch(() => '');
    await dnsp.lookup('localhost');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('write, edit, copy refuse a FIFO; list, search and delete handle it; the quota walk is not stuck', async () => {
    expect(await code(fx.fs({ operation: 'write', path: 'p1', content: 'x' }))).toBe('invalid_input');
    expect(await code(fx.fs({ operation: 'edit', path: 'p2', oldString: 'a', newString: 'b' }))).toBe(
      'invalid_input',
    );
    expect(await code(fx.fs({ operation: 'copy', path: 'p3', destination: 'p3-copy' }))).toBe(
      'invalid_input',
    );
    const copied = await fx.fs({ operation: 'copy', path: 'dir', destination: 'dir-copy' });
    expect(copied.isError).toBe(false);
    expect((await fx.fs({ operation: 'list', path: 'dir-copy', recursive: true })).output).not.toMatch(
      /\bq\b/,
    );
    const found = await fx.fs({ operation: 'search', path: 'dir', pattern: 'hit' });
    expect(found.output).toContain('dir/a.txt:1: hit');
    expect((await fx.fs({ operation: 'list', path: 'dir' })).output).toContain('q');
    expect((await fx.fs({ operation: 'delete', path: 'p4' })).isError).toBe(false);
    expect((await diskUsage(fx.workspace)).bytes).toBeGreaterThan(0);
  });
});
