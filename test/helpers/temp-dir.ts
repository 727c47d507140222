// Temporary directories for tests. Each one is removed after its test file (temp-dirs.setup.ts):
// test servers' DATA_DIRs, repositories and workspaces used to stay in /tmp (thousands of them).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const made = new Set<string>();

export async function tempDir(prefix = 'agent-test-'): Promise<string> {
  const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), prefix)));
  made.add(dir);
  return dir;
}

/** Removes every directory tempDir made in this test file (what cannot be removed is left). */
export async function removeTempDirs(): Promise<void> {
  const dirs = [...made];
  made.clear();
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true }).catch(() => {})));
}
