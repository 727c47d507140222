// The checks behind /health/ready (and /health's details): database, disk, LLM, sandbox, queue, Redis.
import fs from 'node:fs/promises';
import type { Config } from './config.ts';
import type { RedisBroadcaster } from './runs/redis-broadcaster.ts';
import type { Scheduler } from './runs/scheduler.ts';
import { sandboxUnavailableReason, selfTest } from './sandbox/index.ts';
import type { SandboxWrapper } from './sandbox/types.ts';
import type { HealthCheck } from './server/deps.ts';
import type { Store } from './store/types.ts';
import type { McpServers } from './tools/mcp-servers.ts';

/** A check that has not answered within this fails (probes time out at about 5 s). */
const CHECK_TIMEOUT_MS = 3_000;
/** The sandbox is re-tested (a sandboxed `true`) at most this often; in between the last result holds. */
export const SANDBOX_RECHECK_MS = 60_000;

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Whether the sandbox works: the start-up self-test (a sandboxed `true`) again, in the background,
 * at most every SANDBOX_RECHECK_MS, so a bubblewrap removed or broken after the start makes the
 * server "not ready" at the next probe but one. A probe never waits for the test (it answers
 * with the last result); the server only gets here after the start-up test passed.
 */
export function sandboxProbe(sandbox: SandboxWrapper, now: () => number): () => string | undefined {
  let last: { at: number; error?: string } = { at: now() };
  let running = false;
  return () => {
    const unavailable = sandboxUnavailableReason(sandbox);
    if (unavailable) return unavailable;
    if (sandbox.kind !== 'bwrap') return undefined;
    if (!running && now() - last.at >= SANDBOX_RECHECK_MS) {
      running = true;
      void selfTest(sandbox)
        .then(
          () => ({}),
          (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }),
        )
        .then((r) => {
          last = { at: now(), ...r };
          running = false;
        });
    }
    return last.error;
  };
}

export function healthChecks(o: {
  config: Config;
  store: Store;
  sandbox: SandboxWrapper;
  broadcaster?: RedisBroadcaster;
  /** The clock of the sandbox re-test (tests). */
  now?: () => number;
  mcp?: McpServers;
  scheduler: Pick<Scheduler, 'queueStatus'>;
}): HealthCheck[] {
  const { config, store, sandbox, broadcaster, mcp, scheduler } = o;
  const sandboxError = sandboxProbe(sandbox, o.now ?? Date.now);
  return [
    {
      name: 'database',
      check: async () => {
        await within(store.ping(), CHECK_TIMEOUT_MS, 'the database');
        return { ok: true, dialect: store.dialect };
      },
    },
    {
      name: 'disk',
      check: async () => {
        const s = await fs.statfs(config.dataDir);
        const free = s.bavail * s.bsize;
        const total = s.blocks * s.bsize;
        // Nearly full: under 2% or under 256 MiB left for workspaces and the database.
        return { ok: free > 256 * 1024 * 1024 && free / total > 0.02, freeBytes: free, totalBytes: total };
      },
    },
    {
      name: 'llm',
      // Informational: a server without credentials still serves (runs fail with a clear error).
      check: async () => ({
        ok: true,
        configured: Boolean(config.anthropicApiKey),
        baseUrl: config.anthropicBaseUrl,
      }),
    },
    {
      name: 'sandbox',
      check: async () => {
        const error = sandboxError();
        return error ? { ok: false, kind: sandbox.kind, error } : { ok: true, kind: sandbox.kind };
      },
    },
    // A configured MCP server that is down does not stop the server (runs go on without its tools,
    // and are told so): the check is `degraded`, never failing, and names each server's state.
    ...(mcp
      ? [
          {
            name: 'mcp',
            check: async () => {
              const servers = mcp.status();
              return { ok: true, degraded: servers.some((s) => s.state !== 'connected'), servers };
            },
          },
        ]
      : []),
    // Informational: why queued work waits (`held`: memory admission, or every run slot busy).
    { name: 'queue', check: async () => ({ ok: true, ...(await scheduler.queueStatus()) }) },
    // Informational: without Redis, live events of other instances arrive late (followers catch up).
    ...(broadcaster ? [{ name: 'redis', check: async () => ({ ok: true, ...broadcaster.status() }) }] : []),
  ];
}
