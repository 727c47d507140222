// Store contract: migrations, sessions, messages.
import { describe, expect, it } from 'vitest';
import { InvalidCursorError, NotFoundError } from '../../../src/store/errors.ts';
import { sleep } from '../../helpers/sleep.ts';
import { newRun, newSession } from '../fixtures/records.ts';
import { b64, type Ctx, ISO } from './ctx.ts';

export function sessionsContract(ctx: Ctx): void {
  describe('migrations', () => {
    it('are idempotent on restart and safe when instances start concurrently', async () => {
      const store = ctx.store;
      await store.migrate();
      await store.createSession(newSession('s1'));
      const others = await Promise.all([ctx.open(), ctx.open(), ctx.open()]);
      for (const o of others) expect((await o.getSession('s1'))?.id).toBe('s1');
      await store.ping();
    });
  });

  describe('sessions', () => {
    it('creates with defaults and reads back', async () => {
      const store = ctx.store;
      const s = await store.createSession(
        newSession('s1', {
          repoUrl: 'https://x/y.git',
          branch: 'main',
          systemPrompt: 'sp',
          metadata: { k: 'v' },
        }),
      );
      expect(s).toMatchObject({
        id: 's1',
        title: 'title s1',
        status: 'idle',
        engine: 'native',
        model: 'test-model',
        repoUrl: 'https://x/y.git',
        branch: 'main',
        systemPrompt: 'sp',
        metadata: { k: 'v' },
        lastSeq: 0,
        usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
        engineState: {},
        workspaceReady: false,
      });
      expect(s.createdAt).toMatch(ISO);
      expect(s.updatedAt).toBe(s.createdAt);
      expect(await store.getSession('s1')).toEqual(s);
      expect(await store.getSession('nope')).toBeUndefined();
      const bare = await store.createSession(newSession('s2'));
      expect('repoUrl' in bare).toBe(false);
      expect('workflowId' in bare).toBe(false);
    });

    it('patches fields and adds usage', async () => {
      const store = ctx.store;
      const s = await store.createSession(newSession('s1'));
      await sleep(3);
      await store.updateSession('s1', {
        status: 'running',
        title: 'new',
        engineState: { sdkSession: 'abc' },
        workspaceReady: true,
      });
      await store.addSessionUsage('s1', { inputTokens: 10, outputTokens: 5, costUsd: 0.25 });
      await store.addSessionUsage('s1', { inputTokens: 1, outputTokens: 2, costUsd: 0.5 });
      const got = (await store.getSession('s1'))!;
      expect(got).toMatchObject({
        status: 'running',
        title: 'new',
        engineState: { sdkSession: 'abc' },
        workspaceReady: true,
        usage: { inputTokens: 11, outputTokens: 7, costUsd: 0.75 },
        model: 'test-model',
      });
      expect(got.updatedAt > s.updatedAt).toBe(true);
      await store.updateSession('s1', { workspaceReady: false });
      expect((await store.getSession('s1'))!.workspaceReady).toBe(false);
      expect((await store.getSession('s1'))!.title).toBe('new');
    });

    it('lists newest first with a cursor that is stable under inserts', async () => {
      const store = ctx.store;
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) {
        ids.push(`s${String(i).padStart(2, '0')}`);
        await store.createSession(newSession(ids[i]!));
      }
      const expected = [...ids].reverse();
      const p1 = await store.listSessions({ limit: 10 });
      expect(p1.items.map((s) => s.id)).toEqual(expected.slice(0, 10));
      expect(p1.nextCursor).toEqual(expect.any(String));
      for (let i = 0; i < 5; i++) await store.createSession(newSession(`new${i}`));
      const p2 = await store.listSessions({ limit: 10, cursor: p1.nextCursor! });
      expect(p2.items.map((s) => s.id)).toEqual(expected.slice(10, 20));
      const p3 = await store.listSessions({ limit: 10, cursor: p2.nextCursor! });
      expect(p3.items.map((s) => s.id)).toEqual(expected.slice(20));
      expect(p3.nextCursor).toBeNull();
      const all = await store.listSessions({ limit: 100 });
      expect(all.items).toHaveLength(30);
      expect(all.nextCursor).toBeNull();
      const exact = await store.listSessions({ limit: 30 });
      expect(exact.nextCursor).toBeNull();
    });

    it('filters by status', async () => {
      const store = ctx.store;
      for (const id of ['a', 'b', 'c']) await store.createSession(newSession(id));
      await store.updateSession('b', { status: 'running' });
      const page = await store.listSessions({ limit: 10, status: 'running' });
      expect(page.items.map((s) => s.id)).toEqual(['b']);
      expect((await store.listSessions({ limit: 10, status: 'idle' })).items.map((s) => s.id)).toEqual([
        'c',
        'a',
      ]);
    });

    it('rejects garbage cursors with InvalidCursorError', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      const bad = [
        'garbage!!',
        '%%%',
        b64('not json'),
        b64('{"a":1}'),
        b64('[1,2]'),
        b64('["yesterday","s1"]'),
        b64('["2024-01-01T00:00:00.000Z"]'),
        b64('["2024-01-01T00:00:00.000Z",-1]'),
        b64('["2024-01-01T00:00:00.000Z",""]'),
        b64('["2024-13-01T00:00:00.000Z","x"]'),
      ];
      for (const cursor of bad) {
        await expect(store.listSessions({ limit: 5, cursor }), cursor).rejects.toBeInstanceOf(
          InvalidCursorError,
        );
        await expect(store.listWorkflows({ limit: 5, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
        await expect(store.listAudit({ limit: 5, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
      }
      // a well-formed session cursor is not an audit cursor (its id is text), and vice versa
      const textId = b64('["2024-01-01T00:00:00.000Z","s1"]');
      const intId = b64('["2024-01-01T00:00:00.000Z",5]');
      expect((await store.listSessions({ limit: 5, cursor: textId })).items).toEqual([]);
      expect((await store.listAudit({ limit: 5, cursor: intId })).items).toEqual([]);
      await expect(store.listAudit({ limit: 5, cursor: textId })).rejects.toBeInstanceOf(InvalidCursorError);
      await expect(store.listSessions({ limit: 5, cursor: intId })).rejects.toBeInstanceOf(
        InvalidCursorError,
      );
      await expect(store.listWorkflows({ limit: 5, cursor: intId })).rejects.toBeInstanceOf(
        InvalidCursorError,
      );
    });

    it('deleteSession removes its messages, events and runs', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      await store.createSession(newSession('keep'));
      await store.addMessage({
        id: 'm1',
        sessionId: 's1',
        role: 'user',
        text: 'hi',
        createdAt: new Date().toISOString(),
      });
      await store.appendEvents('s1', [{ type: 'run.queued', data: { attempt: 1 } }]);
      await store.createRun(newRun('r1', 's1'));
      await store.createRun(newRun('r2', 'keep'));
      expect(await store.deleteSession('s1')).toBe(true);
      expect(await store.deleteSession('s1')).toBe(false);
      expect(await store.getSession('s1')).toBeUndefined();
      expect(await store.listMessages('s1')).toEqual([]);
      expect(await store.listEvents('s1', 0, 100)).toEqual([]);
      expect(await store.getRun('r1')).toBeUndefined();
      expect(await store.listRuns('s1')).toEqual([]);
      expect((await store.getRun('r2'))?.id).toBe('r2');
      await expect(
        store.appendEvents('s1', [{ type: 'run.queued', data: { attempt: 1 } }]),
      ).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe('messages', () => {
    it('keeps insertion order and engine-format content', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      const t = new Date().toISOString();
      const blocks = [{ type: 'tool_use', id: 'tu1', name: 'bash', input: { cmd: 'ls' } }];
      await store.addMessage({
        id: 'm1',
        sessionId: 's1',
        runId: 'r1',
        role: 'user',
        text: 'hello',
        createdAt: t,
      });
      await store.addMessage({
        id: 'm2',
        sessionId: 's1',
        runId: 'r1',
        role: 'assistant',
        text: '',
        content: blocks,
        createdAt: t,
      });
      await store.addMessage({
        id: 'm3',
        sessionId: 's1',
        role: 'assistant',
        text: 'plain',
        content: 'just text',
        createdAt: t,
      });
      const list = await store.listMessages('s1');
      expect(list.map((m) => m.id)).toEqual(['m1', 'm2', 'm3']);
      expect(list[0]).toEqual({
        id: 'm1',
        sessionId: 's1',
        runId: 'r1',
        role: 'user',
        text: 'hello',
        createdAt: t,
      });
      expect(list[1]!.content).toEqual(blocks);
      expect(list[2]!.content).toBe('just text');
      expect('runId' in list[2]!).toBe(false);
    });

    it('stores text that PostgreSQL would choke on (NUL, lone surrogates)', async () => {
      const store = ctx.store;
      await store.createSession(newSession('s1'));
      const t = new Date().toISOString();
      await store.addMessage({
        id: 'm1',
        sessionId: 's1',
        role: 'user',
        text: 'a\u0000b',
        content: { x: 'c\u0000d\ud800' },
        createdAt: t,
      });
      const [m] = await store.listMessages('s1');
      expect(m!.text).toMatch(/^a.b$/);
      expect(m!.content).toEqual({ x: 'c\uFFFDd\uFFFD' });
    });
  });
}
