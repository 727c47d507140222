// The Redis broadcaster drops its own messages unparsed (every event batch it publishes comes back
// on the channel), and still delivers the messages of another broadcaster — also one whose
// instance id starts like its own.
// Without redis-server this file FAILS — SKIP_REDIS_TESTS=1 skips it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.ts';
import type { Event } from '../../src/protocol/index.ts';
import { RedisBroadcaster } from '../../src/runs/redis-broadcaster.ts';
import { skipRedisTests, startRedis, type TestRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/server.ts';

const event = (sessionId: string, seq: number, text: string): Event =>
  ({ seq, sessionId, type: 'text.delta', ts: new Date().toISOString(), data: { text } }) as Event;

describe.skipIf(skipRedisTests)('Redis broadcaster: own messages', () => {
  let redis: TestRedis;
  const all: RedisBroadcaster[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const b of all) await b.close();
    await redis?.close();
  });

  async function broadcaster(instanceId: string): Promise<{ b: RedisBroadcaster; got: Event[] }> {
    const b = new RedisBroadcaster({ url: redis.url, logger: silentLogger, instanceId });
    all.push(b);
    const got: Event[] = [];
    b.onRemote((events) => got.push(...events));
    expect(await b.ready(10_000)).toBe(true);
    await waitFor(async () => (b.status().publisher ? true : undefined), 10_000);
    return { b, got };
  }

  it('skips its own messages before parsing them and delivers the others', async () => {
    const a = await broadcaster('node');
    const b = await broadcaster('node'); // same instance id, another broadcaster id
    const c = await broadcaster('no'); // an id that is a prefix of the others'
    a.b.publish([event('s1', 1, 'from a')]);
    a.b.announceWork();
    await waitFor(async () => (b.got.length === 1 && c.got.length === 1 ? true : undefined), 10_000, 10);
    await waitFor(async () => (a.b.stats.ownIgnored === 2 ? true : undefined), 10_000, 10);
    expect(a.got).toEqual([]);
    expect(b.got.map((e) => e.data)).toEqual([{ text: 'from a' }]);
    expect(b.b.stats.ownIgnored).toBe(0);
    expect(b.b.stats.workHintsReceived).toBe(1);
    expect(c.b.stats.workHintsReceived).toBe(1);
    // and the other way round
    c.b.publish([event('s2', 1, 'from c')]);
    await waitFor(async () => (a.got.length === 1 && b.got.length === 2 ? true : undefined), 10_000, 10);
    expect(a.got.map((e) => e.data)).toEqual([{ text: 'from c' }]);
    await waitFor(async () => (c.b.stats.ownIgnored === 1 ? true : undefined), 10_000, 10);
    expect(c.got.map((e) => e.data)).toEqual([{ text: 'from a' }]);
  });
});
