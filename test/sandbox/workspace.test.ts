import { promises as fsp, mkdtempSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkspaceManager } from '../../src/sandbox/workspace/manager.ts';

let tmp: string;
beforeEach(() => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'wm-')));
});
afterEach(() => fsp.rm(tmp, { recursive: true, force: true }));

describe('WorkspaceManager', () => {
  it('creates, lists and removes workspaces and homes', async () => {
    const wm = new WorkspaceManager(tmp);
    expect(wm.root).toBe(path.join(tmp, 'workspaces'));
    expect(await wm.list()).toEqual([]);
    const dir = await wm.ensure('sess_1');
    expect(dir).toBe(path.join(tmp, 'workspaces', 'sess_1'));
    expect((await fsp.stat(dir)).mode & 0o777).toBe(0o700);
    expect(await wm.ensure('sess_1')).toBe(dir);
    const home = await wm.homeFor('sess_1');
    expect(home).toBe(path.join(tmp, 'homes', 'sess_1'));
    expect((await fsp.stat(path.join(home, 'tmp'))).isDirectory()).toBe(true);
    expect(await wm.exists('sess_1')).toBe(true);
    expect(await wm.list()).toEqual(['sess_1']);
    await wm.remove('sess_1');
    expect(await wm.exists('sess_1')).toBe(false);
    await expect(fsp.stat(home)).rejects.toThrow();
    await wm.remove('sess_1'); // idempotent
  });

  it.each(['../x', 'a/b', '', '.', '..', 'a b', 'x\0'])('rejects id %j', (id) => {
    const wm = new WorkspaceManager(tmp);
    expect(() => wm.pathFor(id)).toThrow(/Invalid workspace id/);
  });

  it('remove does not follow a symlink to an outside directory', async () => {
    const wm = new WorkspaceManager(tmp);
    const outside = path.join(tmp, 'precious');
    await fsp.mkdir(outside);
    await fsp.writeFile(path.join(outside, 'keep.txt'), 'keep');
    const dir = await wm.ensure('s2');
    await fsp.mkdir(path.join(dir, 'sub'));
    await fsp.symlink(outside, path.join(dir, 'link'));
    await fsp.symlink(outside, path.join(dir, 'sub', 'link2'));
    await wm.remove('s2');
    expect(await fsp.readFile(path.join(outside, 'keep.txt'), 'utf8')).toBe('keep');
    expect(await wm.exists('s2')).toBe(false);
  });
});
