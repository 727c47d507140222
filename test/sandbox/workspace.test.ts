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

  it('slots: a placed session lives in its slot, a restart sweeps only the unplaced slots, links are not followed', async () => {
    const wm = new WorkspaceManager(tmp);
    const a = await wm.allocateSlot();
    const b = await wm.allocateSlot();
    expect(a.name).toMatch(/^spare-[0-9a-f]{24}$/);
    expect(await wm.list()).toEqual([]); // slots are not sessions
    await wm.place('ses_a', a.name);
    expect(await wm.workspaceOf('ses_a')).toBe(a.workspace);
    expect(await wm.homeFor('ses_a')).toBe(a.home);
    expect(await wm.list()).toEqual(['ses_a']);
    // A slot is never shared, and a session with a workspace of its own is not placed.
    await expect(wm.place('ses_a', b.name)).rejects.toThrow(/already has a workspace/);
    await wm.ensure('ses_own');
    await expect(wm.place('ses_own', b.name)).rejects.toThrow(/already has a workspace/);
    await expect(wm.place('ses_x', 'not-a-slot')).rejects.toThrow(/not a slot/);

    // The unplaced slot holds a link to a directory outside; the sweep must not follow it.
    const outside = path.join(tmp, 'precious');
    await fsp.mkdir(outside);
    await fsp.writeFile(path.join(outside, 'keep.txt'), 'x');
    await fsp.symlink(outside, path.join(b.workspace, 'link'));
    await fsp.symlink(outside, path.join(b.home, 'link'));

    // A restart: a new manager knows the placement only from the state directory.
    const after = new WorkspaceManager(tmp);
    expect(await after.sweepSlots()).toEqual([b.name]);
    expect(await after.workspaceOf('ses_a')).toBe(a.workspace);
    expect(await after.exists('ses_a')).toBe(true);
    await expect(fsp.lstat(b.workspace)).rejects.toThrow();
    await expect(fsp.lstat(b.home)).rejects.toThrow();
    expect(await fsp.readFile(path.join(outside, 'keep.txt'), 'utf8')).toBe('x');
    expect(await after.sweepSlots()).toEqual([]);

    // Removing the session removes its slot and its placement.
    await after.remove('ses_a');
    await expect(fsp.lstat(a.workspace)).rejects.toThrow();
    await expect(fsp.lstat(a.home)).rejects.toThrow();
    expect(await new WorkspaceManager(tmp).workspaceOf('ses_a')).toBe(path.join(tmp, 'workspaces', 'ses_a'));
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
