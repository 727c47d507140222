// Health that tells the truth (docs/deployment.md, "Health checks"):
// - the sandbox check re-runs the start-up self-test (in the background, at most once a minute):
//   a bubblewrap that breaks after the start makes the server "not ready" instead of staying green;
// - a draining server is live but not ready (its traffic moves elsewhere; nothing to restart).
import { copyFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/agent/engine.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { SYSTEM_ACTOR } from '../../src/runs/actions.ts';
import { SANDBOX_RECHECK_MS, sandboxProbe } from '../../src/runtime-health.ts';
import { createSandbox } from '../../src/sandbox/index.ts';
import type { SandboxWrapper } from '../../src/sandbox/types.ts';
import { BWRAP_PATH, HAS_BWRAP } from '../helpers/bwrap.ts';
import { ManualClock } from '../helpers/clock.ts';
import { startTestServer, tempDir } from '../helpers/server.ts';
import { until } from '../helpers/sleep.ts';

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers) await c();
});

describe.skipIf(!HAS_BWRAP)('the sandbox check', () => {
  it('notices a bubblewrap that stops working after the start', async () => {
    const dir = await tempDir('health-truth-');
    const bwrap = path.join(dir, 'bwrap');
    copyFileSync(BWRAP_PATH!, bwrap);
    const sandbox: SandboxWrapper = await createSandbox(
      loadConfig({ DATA_DIR: dir, SANDBOX: 'bwrap', BWRAP_PATH: bwrap }),
      silentLogger,
    );
    closers.push(async () =>
      'close' in sandbox && typeof sandbox.close === 'function' ? sandbox.close() : 0,
    );
    const clock = new ManualClock();
    const check = sandboxProbe(sandbox, clock.now);
    expect(check()).toBeUndefined();
    rmSync(bwrap);
    expect(check()).toBeUndefined(); // not re-tested yet: the start-up result holds for a minute
    await clock.advance(SANDBOX_RECHECK_MS);
    check(); // starts the re-test; the probe answers at once with the last result
    await until(() => check() !== undefined, 'the re-test to fail', 20_000);
    expect(check()).toMatch(/sandboxed `true` failed|ENOENT|no such file/i);
  });
});

describe('readiness while draining', () => {
  it('live stays 200, ready turns 503 with accepting: failing', async () => {
    // A run that only ends when it is stopped keeps the drain (and the listener) open meanwhile.
    const blocking: Engine = {
      name: 'native',
      run: (ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }),
        ),
    };
    const server = await startTestServer({}, { engines: { native: blocking } });
    closers.push(() => server.close());
    const session = await server.runtime.sessions.create({}, SYSTEM_ACTOR);
    await server.runtime.sessions.send(session.id, 'wait', undefined, SYSTEM_ACTOR);
    await until(
      async () => (await server.runtime.store.getSession(session.id))?.status === 'running',
      'the run',
    );
    expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);
    const drain = server.runtime.shutdown(1_000); // stops accepting first, then drains
    const [ready, live] = await Promise.all([
      fetch(`${server.url}/health/ready`),
      fetch(`${server.url}/health/live`),
    ]);
    expect(live.status).toBe(200);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: Record<string, unknown> }).checks.accepting).toEqual({
      status: 'failing',
    });
    await drain;
  });
});
