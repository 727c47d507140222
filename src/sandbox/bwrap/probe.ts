// Finding and probing the bubblewrap binary (user-namespace support, supported flags).
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

/** uid/gid of the agent inside the sandbox when a user namespace is used. */
export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 1000;

export class SandboxUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxUnavailableError';
  }
}

function findExecutable(name: string, dirs: string[]): string | null {
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // next
    }
  }
  return null;
}

const probeCache = new Map<string, { userns: boolean; help: string; error?: string }>();

/** What `bwrap --help` offers, and whether it can make a user namespace (else bwrap's own words why). */
export function probeBwrap(bwrapPath: string): { userns: boolean; help: string; error?: string } {
  const cached = probeCache.get(bwrapPath);
  if (cached) return cached;
  const help = spawnSync(bwrapPath, ['--help'], { encoding: 'utf8', timeout: 5000 });
  if (help.error) throw new SandboxUnavailableError(`cannot run ${bwrapPath}: ${help.error.message}`);
  const text = `${help.stdout ?? ''}${help.stderr ?? ''}`;
  const userArgs = ['--unshare-user', '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_GID)];
  if (text.includes('--disable-userns')) userArgs.push('--disable-userns');
  const res = spawnSync(bwrapPath, [...userArgs, '--ro-bind', '/', '/', '--', 'true'], {
    encoding: 'utf8',
    timeout: 5000,
    env: {},
  });
  const why = `${res.stderr ?? ''}`.trim().slice(0, 300) || res.error?.message;
  const out = { userns: res.status === 0, help: text, ...(res.status === 0 || !why ? {} : { error: why }) };
  probeCache.set(bwrapPath, out);
  return out;
}

/**
 * The bwrap to use: the configured path (BWRAP_PATH), else `bwrap` in `searchPath` (the server's
 * PATH, `Config.hostPath`) or the usual places.
 */
export function resolveBwrapPath(configured: string | undefined, searchPath: readonly string[]): string {
  const bwrapPath =
    configured ?? findExecutable('bwrap', [...searchPath, '/usr/bin', '/usr/local/bin', '/bin']);
  if (bwrapPath && !existsSync(bwrapPath)) throw new SandboxUnavailableError(`${bwrapPath} does not exist`);
  if (!bwrapPath) {
    throw new SandboxUnavailableError('bubblewrap (bwrap) is not installed or not on PATH');
  }
  return bwrapPath;
}
