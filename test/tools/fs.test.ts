import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTool } from '../../src/tools/fs.ts';
import { type Fixture, makeFixture, run } from './helpers.ts';

let fx: Fixture;
let fs: ReturnType<typeof createFsTool>;
beforeEach(async () => {
  fx = await makeFixture({ TOOL_OUTPUT_LIMIT: '2000' });
  fs = createFsTool({ config: fx.config });
});
afterEach(() => fx.cleanup());

const op = (input: Record<string, unknown>) => run(fs, input, fx.ctx);
const errCode = async (input: Record<string, unknown>) => {
  try {
    const r = await op(input);
    return r.isError ? 'error-result' : 'ok';
  } catch (err) {
    return (err as { code?: string }).code;
  }
};
const outsideDir = () => path.join(fx.tmp, 'outside');

describe('fs tool', () => {
  it('writes (creating parents), reads and overwrites', async () => {
    expect((await op({ operation: 'write', path: 'a/b/c.txt', content: 'hello\nworld\n' })).output).toMatch(
      /Created/,
    );
    expect((await op({ operation: 'read', path: 'a/b/c.txt' })).output).toBe('hello\nworld\n');
    expect((await op({ operation: 'write', path: 'a/b/c.txt', content: 'x' })).output).toMatch(/Overwrote/);
    expect((await op({ operation: 'read', path: 'a/b/c.txt' })).output).toBe('x');
    expect((await op({ operation: 'write', path: 'empty', content: '' })).isError).toBe(false);
    expect((await op({ operation: 'read', path: 'empty' })).output).toBe('(empty file)');
  });

  it('reads by line offset/limit and caps long files', async () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `line ${i + 1}`).join('\n');
    await op({ operation: 'write', path: 'big.txt', content: lines });
    const part = await op({ operation: 'read', path: 'big.txt', offset: 10, limit: 3 });
    expect(part.output).toBe(
      'line 10\nline 11\nline 12\n[showing lines 10-12 of 1000; use offset/limit to read more]',
    );
    const whole = await op({ operation: 'read', path: 'big.txt' });
    expect(whole.output.length).toBeLessThan(2200);
    expect(whole.output).toMatch(/\[showing lines 1-\d+ of 1000/);
  });

  it('refuses binary, directories, missing files and oversize content', async () => {
    await fsp.writeFile(path.join(fx.workspace, 'bin.dat'), Buffer.from([0x89, 0x50, 0, 1, 2]));
    expect(await errCode({ operation: 'read', path: 'bin.dat' })).toBe('binary_file');
    await fsp.mkdir(path.join(fx.workspace, 'dir'));
    expect(await errCode({ operation: 'read', path: 'dir' })).toBe('invalid_input');
    expect(await errCode({ operation: 'read', path: 'nope.txt' })).toBe('not_found');
    expect(await errCode({ operation: 'write', path: 'dir', content: 'x' })).toBe('invalid_input');
    expect(() =>
      fs.input.parse({ operation: 'write', path: 'x', content: 'x'.repeat(5 * 1024 * 1024 + 1) }),
    ).toThrow();
  });

  it('edits exactly one occurrence, or all with replaceAll', async () => {
    await op({ operation: 'write', path: 'e.ts', content: 'const a = 1;\nconst b = 1;\n' });
    expect(await errCode({ operation: 'edit', path: 'e.ts', oldString: 'const', newString: 'let' })).toBe(
      'edit_ambiguous',
    );
    expect(await errCode({ operation: 'edit', path: 'e.ts', oldString: 'nope', newString: 'x' })).toBe(
      'edit_no_match',
    );
    expect(await errCode({ operation: 'edit', path: 'e.ts', oldString: 'a', newString: 'a' })).toBe(
      'invalid_input',
    );
    await op({ operation: 'edit', path: 'e.ts', oldString: 'a = 1', newString: 'a = "$&$1"' });
    expect((await op({ operation: 'read', path: 'e.ts' })).output).toBe('const a = "$&$1";\nconst b = 1;\n');
    const r = await op({
      operation: 'edit',
      path: 'e.ts',
      oldString: 'const',
      newString: 'let',
      replaceAll: true,
    });
    expect(r.output).toMatch(/2 occurrences/);
    expect((await op({ operation: 'read', path: 'e.ts' })).output).toBe('let a = "$&$1";\nlet b = 1;\n');
  });

  it('lists with dir suffixes, recursively, skipping .git contents', async () => {
    await op({ operation: 'write', path: 'src/x.ts', content: '' });
    await op({ operation: 'write', path: '.git/HEAD', content: '' });
    await op({ operation: 'write', path: 'README.md', content: '' });
    await fsp.symlink('/etc', path.join(fx.workspace, 'etc'));
    expect((await op({ operation: 'list', path: '.' })).output).toBe('.git/\nREADME.md\netc -> /etc\nsrc/');
    expect((await op({ operation: 'list', path: '.', recursive: true })).output).toBe(
      '.git/\nREADME.md\netc -> /etc\nsrc/\nsrc/x.ts',
    );
    expect(await errCode({ operation: 'list', path: 'etc' })).toBe('path_outside_workspace');
  });

  it('deletes files, directories and links (not their targets), never the root', async () => {
    await op({ operation: 'write', path: 'd/x.txt', content: 'x' });
    await fsp.mkdir(outsideDir());
    await fsp.writeFile(path.join(outsideDir(), 'keep'), 'keep');
    await fsp.symlink(outsideDir(), path.join(fx.workspace, 'd', 'out'));
    await fsp.symlink(outsideDir(), path.join(fx.workspace, 'out2'));
    expect((await op({ operation: 'delete', path: 'out2' })).output).toMatch(/Deleted/);
    expect((await op({ operation: 'delete', path: 'd' })).output).toMatch(/Deleted/);
    expect(await fsp.readFile(path.join(outsideDir(), 'keep'), 'utf8')).toBe('keep');
    expect(await fsp.readdir(fx.workspace)).toEqual([]);
    expect(await errCode({ operation: 'delete', path: '.' })).toBe('invalid_input');
    expect(await errCode({ operation: 'delete', path: fx.workspace })).toBe('invalid_input');
    expect(await errCode({ operation: 'delete', path: '../outside' })).toBe('path_outside_workspace');
  });

  it('moves and copies inside the workspace only', async () => {
    await op({ operation: 'write', path: 'a/one.txt', content: '1' });
    await fsp.symlink('one.txt', path.join(fx.workspace, 'a/rel-link'));
    await op({ operation: 'write', path: 'dest/.keep', content: '' });
    expect((await op({ operation: 'copy', path: 'a', destination: 'b' })).output).toMatch(/Copied a to b/);
    expect(await fsp.readlink(path.join(fx.workspace, 'b/rel-link'))).toBe('one.txt');
    expect((await op({ operation: 'read', path: 'b/rel-link' })).output).toBe('1');
    expect((await op({ operation: 'move', path: 'b/one.txt', destination: 'dest' })).output).toMatch(
      /dest\/one\.txt/,
    );
    expect(await errCode({ operation: 'move', path: 'a', destination: 'dest/one.txt' })).toBe(
      'destination_exists',
    );
    expect(await errCode({ operation: 'copy', path: 'a', destination: 'a/inner' })).toBe('invalid_input');
    expect(await errCode({ operation: 'copy', path: 'a/one.txt', destination: '../stolen' })).toBe(
      'path_outside_workspace',
    );
    expect(await errCode({ operation: 'copy', path: '/etc/passwd', destination: 'p' })).toBe(
      'path_outside_workspace',
    );
    expect(await errCode({ operation: 'move', path: '.', destination: 'x' })).toBe('invalid_input');
  });

  it('refuses hard links and symlinks that lead outside', async () => {
    await fsp.mkdir(outsideDir());
    await fsp.writeFile(path.join(outsideDir(), 'secret'), 'top secret');
    await fsp.link(path.join(outsideDir(), 'secret'), path.join(fx.workspace, 'hard'));
    await fsp.symlink(path.join(outsideDir(), 'secret'), path.join(fx.workspace, 'soft'));
    await fsp.symlink(outsideDir(), path.join(fx.workspace, 'dirlink'));
    expect(await errCode({ operation: 'read', path: 'hard' })).toBe('hard_link_refused');
    expect(await errCode({ operation: 'write', path: 'hard', content: 'pwned' })).toBe('hard_link_refused');
    expect(await errCode({ operation: 'edit', path: 'hard', oldString: 'top', newString: 'x' })).toBe(
      'hard_link_refused',
    );
    expect(await errCode({ operation: 'copy', path: 'hard', destination: 'copy' })).toBe('hard_link_refused');
    expect(await errCode({ operation: 'read', path: 'soft' })).toBe('path_outside_workspace');
    expect(await errCode({ operation: 'write', path: 'soft', content: 'pwned' })).toBe(
      'path_outside_workspace',
    );
    expect(await errCode({ operation: 'write', path: 'dirlink/new', content: 'pwned' })).toBe(
      'path_outside_workspace',
    );
    expect(await errCode({ operation: 'read', path: '/proc/self/root/etc/passwd' })).toBe(
      'path_outside_workspace',
    );
    expect(await errCode({ operation: 'read', path: 'a\0b' })).toBe('path_invalid');
    expect(await fsp.readFile(path.join(outsideDir(), 'secret'), 'utf8')).toBe('top secret');
    await expect(fsp.stat(path.join(outsideDir(), 'new'))).rejects.toThrow();
  });

  it('searches with a regex and glob, skipping .git, binaries and symlinks', async () => {
    await op({ operation: 'write', path: 'src/a.ts', content: 'export const foo = 1;\nconst bar = 2;\n' });
    await op({ operation: 'write', path: 'src/deep/b.ts', content: 'foo();\n' });
    await op({ operation: 'write', path: 'src/c.js', content: 'foo\n' });
    await op({ operation: 'write', path: '.git/config', content: 'foo\n' });
    await fsp.writeFile(path.join(fx.workspace, 'bin'), Buffer.from('foo\0'));
    await fsp.mkdir(outsideDir());
    await fsp.writeFile(path.join(outsideDir(), 'x.ts'), 'foo outside\n');
    await fsp.symlink(outsideDir(), path.join(fx.workspace, 'src/out'));
    const all = await op({ operation: 'search', path: '.', pattern: 'foo' });
    expect(all.output).toBe('src/a.ts:1: export const foo = 1;\nsrc/c.js:1: foo\nsrc/deep/b.ts:1: foo();');
    const ts = await op({ operation: 'search', path: '.', pattern: 'fo+', glob: '*.ts' });
    expect(ts.output).toBe('src/a.ts:1: export const foo = 1;\nsrc/deep/b.ts:1: foo();');
    const deep = await op({
      operation: 'search',
      path: 'src',
      pattern: 'FOO',
      glob: 'deep/**/*.{ts,js}',
      ignoreCase: true,
    });
    expect(deep.output).toBe('src/deep/b.ts:1: foo();');
    expect((await op({ operation: 'search', path: '.', pattern: 'zzz' })).output).toMatch(/No matches/);
    expect(await errCode({ operation: 'search', path: '.', pattern: '(' })).toBe('invalid_input');
  });

  it('stops a catastrophic regex without blocking the event loop', async () => {
    await op({ operation: 'write', path: 'redos.txt', content: `${'a'.repeat(40)}!` });
    let ticks = 0;
    const iv = setInterval(() => ticks++, 20);
    const started = Date.now();
    const { searchFiles } = await import('../../src/tools/fs-search.ts');
    await expect(
      searchFiles({ workspace: fx.workspace, path: '.', pattern: '^(a+)+$', timeoutMs: 500 }),
    ).rejects.toMatchObject({ code: 'search_timeout' });
    clearInterval(iv);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(ticks).toBeGreaterThan(5);
  });
});
