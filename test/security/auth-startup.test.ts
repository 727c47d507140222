// Start-up safety (docs/api.md §1): without API_KEYS and SIGNING_SECRET the server serves only on
// loopback; binding any other address is refused with a clear message and a non-zero exit.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/server.ts';
import { sleep } from '../helpers/sleep.ts';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/main.ts');

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['API_KEYS', 'SIGNING_SECRET', 'HOST', 'PORT', 'DATABASE_URL', 'DATA_DIR']) delete e[k];
  return { ...e, SANDBOX: 'none', LOG_LEVEL: 'info', ...extra };
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function run(extra: Record<string, string>) {
  const child = spawn(process.execPath, [MAIN], { env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

describe('start-up without auth', () => {
  for (const host of ['0.0.0.0', '::', '192.0.2.1']) {
    it(`refuses HOST=${host} with no API_KEYS/SIGNING_SECRET`, async () => {
      const p = run({ HOST: host, PORT: '0', DATA_DIR: await tempDir('startup-') });
      const code = await p.exited;
      expect(code).toBe(2);
      expect(p.err()).toContain(`refusing to listen on ${host}`);
      expect(p.err()).toContain('API_KEYS');
      expect(p.err()).toContain('SIGNING_SECRET');
      expect(p.out()).not.toContain('agent server listening');
    });
  }

  it('starts on a non-loopback address once a key is configured, and on loopback without one (with a warning)', async () => {
    const cases: Array<Record<string, string>> = [
      { HOST: '0.0.0.0', API_KEYS: 'startup-test-key-0123456789' },
      { HOST: '127.0.0.1' },
    ];
    for (const extra of cases) {
      const p = run({ ...extra, PORT: '0', DATA_DIR: await tempDir('startup-') });
      const deadline = Date.now() + 30_000;
      while (
        !p.out().includes('agent server listening') &&
        p.child.exitCode === null &&
        Date.now() < deadline
      ) {
        await sleep(50);
      }
      expect(p.out(), p.err()).toContain('agent server listening');
      if (!extra.API_KEYS) expect(p.out()).toContain('loopback');
      expect(p.out()).not.toContain('startup-test-key-0123456789');
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    }
  });
});
