// The instance_down alert with two instances on one real PostgreSQL (docs/api.md §11).
// - On the registry (manual clock, two Store connections): the smallest live id leads; an
//   instance whose heartbeats stop (its database connection is gone) becomes stale for the
//   others; one that stops cleanly never does; the same id starting again is alive again.
// - End to end: instance A (in process) and instance B (a child process) share the database;
//   B is killed with SIGKILL → A, the leader, sends instance_down for B to a webhook receiver;
//   B restarts with the same INSTANCE_ID → "resolved". Real time here (B is another process
//   with its own clock), with short intervals; every wait is bounded by `until`.
// Without a PostgreSQL installation this file FAILS — set SKIP_PG_TESTS=1 to skip it explicitly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.ts';
import { InstanceRegistry } from '../../src/runs/instances.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import type { Store } from '../../src/store/types.ts';
import { type ChildServer, startChildServer } from '../helpers/child-server.ts';
import { ManualClock } from '../helpers/clock.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/sleep.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/telegram.ts';
import { freshDatabase } from '../multi-instance/helpers.ts';

const skip = process.env.SKIP_PG_TESTS === '1';

let pg: TestPostgres | undefined;
beforeAll(async () => {
  if (!skip) pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

describe.skipIf(skip)('instance heartbeats on PostgreSQL', () => {
  it('leader, stale after the heartbeats stop, never stale after a clean stop, alive again after a restart', async () => {
    const db = await freshDatabase(pg!.url);
    const clock = new ManualClock();
    const stores: Store[] = [];
    const open = async () => {
      const s = new PostgresStore({ connectionString: db, max: 2 });
      await s.migrate();
      stores.push(s);
      return s;
    };
    const registry = (store: Store, id: string) =>
      new InstanceRegistry({
        store,
        instanceId: id,
        version: 'test',
        heartbeatMs: 10_000,
        staleMs: 30_000,
        logger: silentLogger,
        clock,
      });
    try {
      const storeB = await open();
      const a = registry(await open(), 'a-1');
      const b = registry(storeB, 'b-2');
      const c = registry(await open(), 'c-3');
      await Promise.all([a.start(), b.start(), c.start()]);
      const reader = await open();
      /** Moves the clock one heartbeat at a time; after each, waits until the live ones' beats are stored. */
      const beats = async (n: number, live: string[]) => {
        for (let i = 0; i < n; i++) {
          await clock.advance(10_000);
          const at = new Date(clock.now()).toISOString();
          await until(
            async () => {
              const rows = await reader.listInstances();
              return live.every((id) => rows.find((r) => r.id === id)?.heartbeatAt === at);
            },
            `heartbeats of ${live.join(', ')} at ${at}`,
            10_000,
          );
        }
      };
      expect([await a.isLeader(), await b.isLeader(), await c.isLeader()]).toEqual([true, false, false]);
      await beats(6, ['a-1', 'b-2', 'c-3']); // a minute of everyone heart-beating
      expect(await a.staleInstances()).toEqual([]);

      await c.stop(); // clean
      await storeB.close(); // b can no longer record heartbeats: as good as dead
      await beats(3, ['a-1']);
      expect(await a.staleInstances()).toEqual([]); // 30 s: not yet
      await beats(1, ['a-1']);
      // b is stale; c's last heartbeat is as old, but it stopped cleanly
      expect((await a.staleInstances()).map((i) => i.id)).toEqual(['b-2']);
      expect(await a.isLeader()).toBe(true);

      // b starts again under the same id: alive, and not the leader while a lives
      const b2 = registry(await open(), 'b-2');
      await b2.start();
      expect(await a.staleInstances()).toEqual([]);
      expect(await b2.isLeader()).toBe(false);
      // a stops heart-beating (its timer ends without a clean stop): b leads and sees a as stale
      a['timer']?.cancel();
      await beats(4, ['b-2']);
      expect(await b2.isLeader()).toBe(true);
      expect((await b2.staleInstances()).map((i) => i.id)).toEqual(['a-1']);
    } finally {
      for (const s of stores) await s.close().catch(() => undefined);
    }
  });

  describe('end to end: a killed instance is alerted on, its restart resolves it', () => {
    let a: TestServer | undefined;
    let b: ChildServer | undefined;
    let hook: WebhookReceiver | undefined;

    afterAll(async () => {
      await b?.close();
      await a?.close();
      await hook?.close();
    });

    it('instance_down firing for B after SIGKILL, resolved after B restarts', async () => {
      const db = await freshDatabase(pg!.url);
      hook = await startWebhookReceiver();
      const quiet = {
        ALERT_RUN_FAILURES: '0',
        ALERT_LLM_FAILURES: '0',
        ALERT_DISK_PERCENT: '0',
        ALERT_MEMORY_PERCENT: '0',
        ALERT_QUEUE_DEPTH: '0',
        // stale after 4 s: far above a heartbeat delayed by a busy machine, short enough to wait for
        INSTANCE_HEARTBEAT_MS: '250',
        ALERT_INSTANCE_STALE_MS: '4000',
      };
      b = await startChildServer({ env: { DATABASE_URL: db, INSTANCE_ID: 'node-b', ...quiet } });
      a = await startTestServer({
        DATABASE_URL: db,
        INSTANCE_ID: 'node-a',
        ALERT_WEBHOOK_URL: `${hook.url}/alerts`,
        CALLBACK_ALLOW_HOSTS: '127.0.0.1',
        ALERT_EVAL_INTERVAL_MS: '200',
        ...quiet,
      });
      const bodies = () => hook!.received.map((r) => JSON.parse(r.body) as Record<string, unknown>);
      expect(await a.runtime.instances.isLeader()).toBe(true);
      expect((await a.runtime.store.listInstances()).map((i) => i.id)).toEqual(['node-a', 'node-b']);

      expect(hook.received).toEqual([]); // both alive: nothing
      await b.kill('SIGKILL');
      await until(() => hook!.received.length === 1, 'instance_down firing', 20_000);
      expect(bodies()[0]).toMatchObject({
        kind: 'alert',
        name: 'instance_down',
        state: 'firing',
        severity: 'critical',
        subject: 'node-b',
        instance: 'node-a',
        threshold: 4, // seconds (ALERT_INSTANCE_STALE_MS)
      });
      expect(a.runtime.alerts.firing()).toEqual([
        expect.objectContaining({ name: 'instance_down', subject: 'node-b', notified: true }),
      ]);

      await b.restart();
      await until(() => hook!.received.length === 2, 'instance_down resolved', 20_000);
      expect(bodies()[1]).toMatchObject({ name: 'instance_down', state: 'resolved', subject: 'node-b' });

      // a drained stop (SIGTERM) marks B stopped: it is not "down"
      expect(await b.kill('SIGTERM')).toBe(0);
      const rows = await a.runtime.store.listInstances();
      expect(rows.find((i) => i.id === 'node-b')?.stoppedAt).toEqual(expect.any(String));
      expect(await a.runtime.instances.staleInstances()).toEqual([]);
    });
  });
});
