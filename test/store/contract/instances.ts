// Store contract: server instances and their heartbeats (the instance_down alert, docs/api.md §11).
import { describe, expect, it } from 'vitest';
import { InvalidQueryError } from '../../../src/store/errors.ts';
import type { Ctx } from './ctx.ts';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

export function instancesContract(ctx: Ctx): void {
  describe('instances', () => {
    it('a heartbeat creates the row, the next renews it, a stop marks it, a heartbeat clears the stop', async () => {
      const store = ctx.store;
      expect(await store.listInstances()).toEqual([]);
      await store.heartbeatInstance({ id: 'b-2', version: '1.0.0', startedAt: at(0) }, at(0));
      await store.heartbeatInstance({ id: 'a-1', version: '1.0.0', startedAt: at(0) }, at(1));
      await store.heartbeatInstance({ id: 'b-2', version: '1.0.0', startedAt: at(0) }, at(10));
      expect(await store.listInstances()).toEqual([
        { id: 'a-1', version: '1.0.0', startedAt: at(0), heartbeatAt: at(1) },
        { id: 'b-2', version: '1.0.0', startedAt: at(0), heartbeatAt: at(10) },
      ]);
      await store.stopInstance('a-1', at(20));
      expect((await store.listInstances())[0]).toEqual({
        id: 'a-1',
        version: '1.0.0',
        startedAt: at(0),
        heartbeatAt: at(1),
        stoppedAt: at(20),
      });
      // the same id started again (INSTANCE_ID set explicitly): alive again, new start time
      await store.heartbeatInstance({ id: 'a-1', version: '1.1.0', startedAt: at(30) }, at(30));
      expect((await store.listInstances())[0]).toEqual({
        id: 'a-1',
        version: '1.1.0',
        startedAt: at(30),
        heartbeatAt: at(30),
      });
    });

    it('never moves a heartbeat back in time (a late write of an older beat changes nothing)', async () => {
      const store = ctx.store;
      await store.heartbeatInstance({ id: 'x', version: 'v', startedAt: at(0) }, at(20));
      await store.heartbeatInstance({ id: 'x', version: 'v', startedAt: at(0) }, at(10));
      expect((await store.listInstances())[0]?.heartbeatAt).toBe(at(20));
    });

    it('is shared by every store on the database', async () => {
      const other = await ctx.open();
      await other.heartbeatInstance({ id: 'x', version: 'v', startedAt: at(0) }, at(5));
      expect((await ctx.store.listInstances()).map((i) => i.id)).toEqual(['x']);
    });

    it('forgets the instances not heard from since a time', async () => {
      const store = ctx.store;
      await store.heartbeatInstance({ id: 'old', version: 'v', startedAt: at(0) }, at(0));
      await store.heartbeatInstance({ id: 'new', version: 'v', startedAt: at(0) }, at(100));
      expect(await store.forgetInstances(at(100))).toBe(1);
      expect((await store.listInstances()).map((i) => i.id)).toEqual(['new']);
      expect(await store.forgetInstances(at(100))).toBe(0);
      await expect(store.forgetInstances('yesterday')).rejects.toBeInstanceOf(InvalidQueryError);
    });
  });
}
