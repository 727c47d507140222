import { promises as fsp, mkdtempSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertNotHardLinked, isInside, resolveInWorkspace } from '../../src/sandbox/workspace/path-guard.ts';

let tmp: string;
let ws: string;
let outside: string;

beforeAll(async () => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'pg-')));
  ws = path.join(tmp, 'ws');
  outside = path.join(tmp, 'outside');
  await fsp.mkdir(path.join(ws, 'src/deep'), { recursive: true });
  await fsp.mkdir(outside);
  await fsp.writeFile(path.join(ws, 'src/a.txt'), 'a');
  await fsp.writeFile(path.join(outside, 'secret.txt'), 'secret');
  await fsp.symlink('/etc', path.join(ws, 'etc-link'));
  await fsp.symlink(outside, path.join(ws, 'out-dir'));
  await fsp.symlink('src/a.txt', path.join(ws, 'inside-link'));
  await fsp.symlink('src', path.join(ws, 'src-link'));
  // chain: c1 -> c2 -> /etc/passwd
  await fsp.symlink(path.join(ws, 'c2'), path.join(ws, 'c1'));
  await fsp.symlink('/etc/passwd', path.join(ws, 'c2'));
  await fsp.symlink(path.join(outside, 'not-yet'), path.join(ws, 'dangling-out'));
  await fsp.symlink('src/new-file', path.join(ws, 'dangling-in'));
  await fsp.symlink('../../outside', path.join(ws, 'src/up'));
  await fsp.link(path.join(outside, 'secret.txt'), path.join(ws, 'hard.txt'));
  await fsp.symlink('loop2', path.join(ws, 'loop1'));
  await fsp.symlink('loop1', path.join(ws, 'loop2'));
});
afterAll(() => fsp.rm(tmp, { recursive: true, force: true }));

const code = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

describe('resolveInWorkspace', () => {
  it('resolves relative and inside-absolute paths to real paths', async () => {
    expect(await resolveInWorkspace(ws, 'src/a.txt')).toBe(path.join(ws, 'src/a.txt'));
    expect(await resolveInWorkspace(ws, path.join(ws, 'src/a.txt'))).toBe(path.join(ws, 'src/a.txt'));
    expect(await resolveInWorkspace(ws, '.')).toBe(ws);
    expect(await resolveInWorkspace(ws, '')).toBe(ws);
    expect(await resolveInWorkspace(ws, 'src/deep/../a.txt')).toBe(path.join(ws, 'src/a.txt'));
    expect(await resolveInWorkspace(ws, 'inside-link')).toBe(path.join(ws, 'src/a.txt'));
    expect(await resolveInWorkspace(ws, 'src-link/deep')).toBe(path.join(ws, 'src/deep'));
  });

  it.each([
    ['../outside/secret.txt'],
    ['src/../../outside/secret.txt'],
    ['/etc/passwd'],
    ['/proc/self/root/etc/passwd'],
    ['etc-link/passwd'],
    ['etc-link'],
    ['out-dir/secret.txt'],
    ['c1'],
    ['src/up/secret.txt'],
    ['src-link/../../outside/secret.txt'],
  ])('rejects %s', async (p) => {
    expect(await code(resolveInWorkspace(ws, p))).toBe('path_outside_workspace');
    expect(await code(resolveInWorkspace(ws, p, { allowMissing: true }))).toBe('path_outside_workspace');
  });

  it('rejects dangling symlinks that point outside, even for writes', async () => {
    expect(await code(resolveInWorkspace(ws, 'dangling-out'))).toBe('path_outside_workspace');
    expect(await code(resolveInWorkspace(ws, 'dangling-out', { allowMissing: true }))).toBe(
      'path_outside_workspace',
    );
    expect(await code(resolveInWorkspace(ws, 'out-dir/new/file', { allowMissing: true }))).toBe(
      'path_outside_workspace',
    );
  });

  it('resolves missing targets through inside links when allowed', async () => {
    expect(await code(resolveInWorkspace(ws, 'dangling-in'))).toBe('not_found');
    expect(await resolveInWorkspace(ws, 'dangling-in', { allowMissing: true })).toBe(
      path.join(ws, 'src/new-file'),
    );
    expect(await resolveInWorkspace(ws, 'new/dir/f.txt', { allowMissing: true })).toBe(
      path.join(ws, 'new/dir/f.txt'),
    );
    expect(await code(resolveInWorkspace(ws, 'new/../../x', { allowMissing: true }))).toBe(
      'path_outside_workspace',
    );
  });

  it('keeps the final link itself with followFinal: false', async () => {
    expect(await resolveInWorkspace(ws, 'etc-link', { followFinal: false })).toBe(path.join(ws, 'etc-link'));
    expect(await resolveInWorkspace(ws, 'dangling-out', { followFinal: false })).toBe(
      path.join(ws, 'dangling-out'),
    );
    expect(await code(resolveInWorkspace(ws, 'etc-link/passwd', { followFinal: false }))).toBe(
      'path_outside_workspace',
    );
    expect(await code(resolveInWorkspace(ws, '../outside', { followFinal: false }))).toBe(
      'path_outside_workspace',
    );
  });

  it('rejects NUL bytes and symlink loops', async () => {
    expect(await code(resolveInWorkspace(ws, 'src/a.txt\0.png'))).toBe('path_invalid');
    expect(await code(resolveInWorkspace(ws, 'loop1'))).toBe('path_invalid');
  });

  it('uses path.relative, not string prefixes', () => {
    expect(isInside('/a/ws', '/a/ws2/x')).toBe(false);
    expect(isInside('/a/ws', '/a/ws/..x')).toBe(true);
    expect(isInside('/a/ws', '/a/ws')).toBe(true);
    expect(isInside('/a/ws', '/a')).toBe(false);
  });
});

describe('assertNotHardLinked', () => {
  it('refuses a hard link to an outside file', async () => {
    expect(await code(resolveInWorkspace(ws, 'hard.txt'))).toBe('ok');
    expect(await code(assertNotHardLinked(path.join(ws, 'hard.txt')))).toBe('hard_link_refused');
    expect(await code(assertNotHardLinked(path.join(ws, 'src/a.txt')))).toBe('ok');
    expect(await code(assertNotHardLinked(path.join(ws, 'src')))).toBe('ok');
  });
});
