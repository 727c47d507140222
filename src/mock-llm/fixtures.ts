// Git fixtures for scenarios: a tiny repository with a bug the scripted agent fixes.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Environment for fixture git commands: the machine's git config does not leak in. */
function gitEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'fixture',
    GIT_AUTHOR_EMAIL: 'fixture@example.com',
    GIT_COMMITTER_NAME: 'fixture',
    GIT_COMMITTER_EMAIL: 'fixture@example.com',
  };
}

async function git(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run(
    'git',
    [
      '-c',
      'user.name=fixture',
      '-c',
      'user.email=fixture@example.com',
      '-c',
      'commit.gpgsign=false',
      ...args,
    ],
    { cwd, env: gitEnv() },
  );
  return stdout;
}

export const BUGGY_MATH_JS = `function add(a, b) {
  return a - b;
}

module.exports = { add };
`;

export const TEST_JS = `const assert = require('node:assert');
const { add } = require('./math.js');

try {
  assert.strictEqual(add(2, 3), 5);
} catch (err) {
  console.error('test failed:', err.message);
  process.exit(1);
}
console.log('all tests passed');
`;

export const PACKAGE_JSON = `${JSON.stringify({ name: 'demo', version: '1.0.0', private: true }, null, 2)}\n`;

/**
 * Creates the bare repository `rootDir/origin.git` (HEAD → main) with one commit on `main`:
 * `math.js` (add() subtracts — the bug), `test.js` (node test.js: exit 1 until fixed) and `package.json`.
 * It is shared with every user (`--shared=0777`): on a root server each session pushes as its own
 * unprivileged uid (docs/security.md), and a throwaway demo remote must accept that.
 */
export async function createBugfixRepo(rootDir: string): Promise<{ bareRepo: string }> {
  await mkdir(rootDir, { recursive: true });
  const bareRepo = join(rootDir, 'origin.git');
  const work = await mkdtemp(join(rootDir, '.fixture-work-'));
  try {
    await git(rootDir, ['init', '--bare', '--shared=0777', '--initial-branch=main', bareRepo]);
    await git(work, ['init', '--initial-branch=main', '.']);
    await writeFile(join(work, 'math.js'), BUGGY_MATH_JS);
    await writeFile(join(work, 'test.js'), TEST_JS);
    await writeFile(join(work, 'package.json'), PACKAGE_JSON);
    await git(work, ['add', 'math.js', 'test.js', 'package.json']);
    await git(work, ['commit', '-m', 'Initial commit']);
    await git(work, ['push', bareRepo, 'main:main']);
    await git(bareRepo, ['symbolic-ref', 'HEAD', 'refs/heads/main']);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { bareRepo };
}
