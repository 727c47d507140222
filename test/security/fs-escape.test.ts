// Attacks on the `fs` tool (and links planted with bash inside the sandbox): each must fail.
import { existsSync, linkSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { makeSecFixture, type SecFixture } from './helpers.ts';

let fx: SecFixture;
beforeAll(async () => {
  if (HAS_BWRAP) fx = await makeSecFixture();
});
afterAll(() => fx?.cleanup());

const OUTSIDE = { code: 'path_outside_workspace' };

describe.skipIf(!HAS_BWRAP)('fs tool escapes', () => {
  it('../ traversal to the data dir is refused', async () => {
    await expect(fx.fs({ operation: 'read', path: '../../agent.db' })).rejects.toMatchObject(OUTSIDE);
    await expect(fx.fs({ operation: 'read', path: 'a/../../other/secret.txt' })).rejects.toMatchObject(
      OUTSIDE,
    );
    await expect(fx.fs({ operation: 'write', path: '../../pwned', content: 'x' })).rejects.toMatchObject(
      OUTSIDE,
    );
    expect(existsSync(path.join(fx.tmp, 'pwned'))).toBe(false);
  });

  it('absolute paths outside the workspace are refused', async () => {
    for (const p of [
      '/etc/passwd',
      '/etc/shadow',
      path.join(fx.tmp, 'agent.db'),
      path.join(fx.other, 'secret.txt'),
      '/root/.bashrc',
    ]) {
      await expect(fx.fs({ operation: 'read', path: p }), p).rejects.toMatchObject(OUTSIDE);
    }
    await expect(fx.fs({ operation: 'list', path: '/' })).rejects.toMatchObject(OUTSIDE);
    await expect(
      fx.fs({ operation: 'copy', path: '/etc/hosts', destination: 'hosts' }),
    ).rejects.toMatchObject(OUTSIDE);
  });

  it('/proc/self/root/etc/passwd is refused', async () => {
    await expect(fx.fs({ operation: 'read', path: '/proc/self/root/etc/passwd' })).rejects.toMatchObject(
      OUTSIDE,
    );
    await expect(
      fx.fs({ operation: 'read', path: '../../../../../../proc/self/root/etc/passwd' }),
    ).rejects.toMatchObject(OUTSIDE);
  });

  it('a symlink to /etc (made inside the sandbox) cannot be read or written through', async () => {
    const made = await fx.bash(
      `ln -s /etc etc-link && ln -s ${fx.tmp}/agent.db db-link && ln -s / root-link && echo made`,
    );
    expect(made.output).toContain('made');
    await expect(fx.fs({ operation: 'read', path: 'etc-link/passwd' })).rejects.toMatchObject(OUTSIDE);
    await expect(fx.fs({ operation: 'read', path: 'db-link' })).rejects.toMatchObject(OUTSIDE);
    await expect(fx.fs({ operation: 'write', path: 'etc-link/evil', content: 'x' })).rejects.toMatchObject(
      OUTSIDE,
    );
    await expect(fx.fs({ operation: 'read', path: 'root-link/etc/passwd' })).rejects.toMatchObject(OUTSIDE);
    // And inside the sandbox the link leads to the sandbox's /etc and an absent data dir.
    const via = await fx.bash('cat etc-link/shadow db-link 2>&1; ls etc-link/ | grep -c shadow');
    expect(via.output).not.toContain('TOPSECRET');
    expect(via.output).toMatch(/No such file/);
    expect(existsSync('/etc/evil')).toBe(false);
  });

  it('a hard link to an outside file is refused (and cannot even be made from the sandbox)', async () => {
    // From inside: the data dir does not exist there, and other mounts give EXDEV.
    const r = await fx.bash(
      `ln ${fx.tmp}/agent.db hl1; ln ${fx.outside}/outside.txt hl2; ln /etc/hosts hl3; ls hl* 2>&1`,
    );
    expect(r.output).not.toContain('TOPSECRET');
    expect(existsSync(path.join(fx.workspace, 'hl1'))).toBe(false);
    expect(existsSync(path.join(fx.workspace, 'hl2'))).toBe(false);
    expect(existsSync(path.join(fx.workspace, 'hl3'))).toBe(false);
    // Planted from the host (e.g. by some other process): the fs tool refuses multi-link files.
    linkSync(path.join(fx.outside, 'outside.txt'), path.join(fx.workspace, 'planted'));
    await expect(fx.fs({ operation: 'read', path: 'planted' })).rejects.toMatchObject({
      code: 'hard_link_refused',
    });
    await expect(fx.fs({ operation: 'write', path: 'planted', content: 'overwrite' })).rejects.toMatchObject({
      code: 'hard_link_refused',
    });
    expect(readFileSync(path.join(fx.outside, 'outside.txt'), 'utf8')).toBe('TOPSECRET-outside-file');
  });
});
