// Picks the process sandbox for every process the agent starts. `SANDBOX=bwrap` (the default)
// requires a working bubblewrap: start-up runs a trivial sandboxed `true` and REFUSES to continue
// otherwise (tools never silently run unsandboxed). `SANDBOX=none` must be chosen explicitly and
// is logged loudly.
import { chownSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import { type BwrapSandbox, createBwrapSandbox } from './bwrap/bwrap.ts';
import { runProcess } from './process-runner.ts';
import { noSandbox, type SandboxWrapper } from './types.ts';

export { type BwrapSandbox, createBwrapSandbox } from './bwrap/bwrap.ts';
export type { SandboxIdentities } from './bwrap/identity.ts';

/** The per-session uids of a sandbox (a root server with bubblewrap), or null. */
export function identitiesOf(
  sandbox: SandboxWrapper,
): import('./bwrap/identity.ts').SandboxIdentities | null {
  return 'identities' in sandbox ? ((sandbox as BwrapSandbox).identities ?? null) : null;
}

const HOW_TO_FIX =
  'Install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install bubblewrap`) and make sure ' +
  'user namespaces are allowed (or run the server as root), or set SANDBOX=none explicitly to run agent processes ' +
  'WITHOUT an OS sandbox. In a Docker container: run it with `--security-opt seccomp=deploy/seccomp/bwrap.json ' +
  '--security-opt systempaths=unconfined --security-opt apparmor=unconfined` (compose.yaml does; Kubernetes: ' +
  'deploy/k8s/; docs/deployment.md, "The sandbox in containers").';

export class SandboxStartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxStartupError';
  }
}

/**
 * What the server uses when SANDBOX=bwrap but bubblewrap does not work: the server still starts and
 * serves, `/health` reports the sandbox as failing, and every run fails with `sandbox_unavailable`
 * instead of running anything unsandboxed.
 */
export interface UnavailableSandbox extends SandboxWrapper {
  readonly unavailable: string;
}

export function unavailableSandbox(reason: string): UnavailableSandbox {
  return {
    kind: 'bwrap',
    unavailable: reason,
    wrap() {
      throw new SandboxStartupError(reason);
    },
  };
}

export function sandboxUnavailableReason(sandbox: SandboxWrapper): string | undefined {
  return 'unavailable' in sandbox && typeof sandbox.unavailable === 'string'
    ? sandbox.unavailable
    : undefined;
}

/** Runs `true` in the sandbox against a throwaway workspace; throws with the reason when it fails. */
export async function selfTest(sandbox: SandboxWrapper): Promise<void> {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'duyetbot-sbx-check-')));
  // A root server runs sandboxes only in directories owned by a sandbox uid (bwrap/identity.ts).
  const ids = 'identities' in sandbox ? (sandbox as BwrapSandbox).identities : null;
  if (ids) chownSync(dir, ids.probeUid, ids.gid);
  try {
    const res = await runProcess(
      { command: 'true', args: [], cwd: dir, workspace: dir, env: { PATH: '/usr/bin:/bin' } },
      { sandbox, timeoutMs: 15_000, outputLimit: 4000 },
    );
    if (res.exitCode !== 0) {
      const why = res.spawnError ?? (res.timedOut ? 'timed out' : `exit ${res.exitCode ?? res.signal}`);
      throw new SandboxStartupError(
        `sandboxed \`true\` failed (${why}): ${res.output.trim().slice(0, 1000)}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function createSandbox(config: Config, logger: Logger): Promise<SandboxWrapper> {
  if (config.sandbox === 'none') {
    logger.warn(
      'SANDBOX=none: agent processes run WITHOUT an OS sandbox — they can read the data dir, other workspaces, ' +
        "the server's files and reach the network; only the path guard and process-group kill apply. " +
        'Use SANDBOX=bwrap in any deployment that runs untrusted repositories or prompts.',
    );
    return noSandbox;
  }
  let sandbox: BwrapSandbox | undefined;
  try {
    sandbox = createBwrapSandbox({ config, dataDir: config.dataDir, logger });
    await sandbox.ready();
    await selfTest(sandbox);
  } catch (err) {
    await sandbox?.close().catch(() => {});
    throw new SandboxStartupError(
      `SANDBOX=bwrap but the bubblewrap sandbox does not work here: ${(err as Error).message}. ${HOW_TO_FIX}`,
    );
  }
  const i = sandbox.info;
  logger.info('sandbox: bubblewrap', {
    mode: i.mode,
    userns: i.userns,
    cgroup: i.cgroup,
    prlimit: i.prlimit,
    limits: sandbox.limits,
    addressSpaceBytes: i.addressSpaceBytes,
    networkAllow: config.sandboxNetwork,
  });
  if (sandbox.identities) {
    logger.info('sandbox: the server runs as root; each session runs as its own unprivileged uid', {
      uids: `${sandbox.identities.first}-${sandbox.identities.last}`,
      gid: sandbox.identities.gid,
    });
  }
  return sandbox;
}
