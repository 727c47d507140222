// The checks behind /health/ready (and /health's details): database, disk, LLM, sandbox, queue, Redis.
import fs from 'node:fs/promises';
import type { Config } from './config.ts';
import type { RedisBroadcaster } from './runs/redis-broadcaster.ts';
import type { Scheduler } from './runs/scheduler.ts';
import { sandboxUnavailableReason } from './sandbox/index.ts';
import type { SandboxWrapper } from './sandbox/types.ts';
import type { HealthCheck } from './server/deps.ts';
import type { Store } from './store/types.ts';

export function healthChecks(o: {
  config: Config;
  store: Store;
  sandbox: SandboxWrapper;
  broadcaster?: RedisBroadcaster;
  scheduler: Pick<Scheduler, 'queueStatus'>;
}): HealthCheck[] {
  const { config, store, sandbox, broadcaster, scheduler } = o;
  return [
    {
      name: 'database',
      check: async () => {
        await store.ping();
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
        const unavailable = sandboxUnavailableReason(sandbox);
        return unavailable
          ? { ok: false, kind: sandbox.kind, error: unavailable }
          : { ok: true, kind: sandbox.kind };
      },
    },
    // Informational: why queued work waits (`held`: memory admission, or every run slot busy).
    { name: 'queue', check: async () => ({ ok: true, ...(await scheduler.queueStatus()) }) },
    // Informational: without Redis, live events of other instances arrive late (followers catch up).
    ...(broadcaster ? [{ name: 'redis', check: async () => ({ ok: true, ...broadcaster.status() }) }] : []),
  ];
}
