// The client's SSE follower resumes after a dropped stream from the last seq it delivered: every
// event once, in order, across reconnections (each with fresh auth headers).
import { describe, expect, it } from 'vitest';
import { followEventStream } from '../../src/client/follow.ts';

const frame = (seq: number) =>
  `id: ${seq}\nevent: session.notice\ndata: ${JSON.stringify({ seq, sessionId: 's', type: 'session.notice', ts: 't', data: { message: `m${seq}` } })}\n\n`;

function sse(text: string, splitAt?: number): Response {
  const enc = new TextEncoder();
  const parts = splitAt === undefined ? [text] : [text.slice(0, splitAt), text.slice(splitAt)];
  return new Response(
    new ReadableStream({
      start(c) {
        for (const p of parts) c.enqueue(enc.encode(p));
        c.close();
      },
    }),
    { headers: { 'Content-Type': 'text/event-stream' } },
  );
}

describe('followEventStream', () => {
  it('reconnects after a drop with after=<last seq>, skipping what it already delivered', async () => {
    const urls: string[] = [];
    const auths: string[] = [];
    let call = 0;
    const fake = (async (url: string, init: RequestInit) => {
      urls.push(url);
      auths.push(String((init.headers as Record<string, string>).Authorization));
      call++;
      // 1st: events 1-2 (a frame split across chunks), then the stream ends (a drop);
      // 2nd: the server replays 2 again (overlap) then 3-4; 3rd would be unexpected.
      if (call === 1) return sse(frame(1) + frame(2), 10);
      if (call === 2) return sse(frame(2) + frame(3) + frame(4));
      throw new Error('no third connection expected');
    }) as unknown as typeof fetch;
    const seen: number[] = [];
    let n = 0;
    const last = await followEventStream({
      url: 'http://127.0.0.1:1/api/sessions/s/events',
      headers: () => ({ Authorization: `Bearer k${++n}` }),
      fetch: fake,
      onEvent: (e) => {
        seen.push(e.seq);
        return e.seq === 4 ? false : undefined;
      },
    });
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(last).toBe(4);
    expect(urls).toEqual([
      'http://127.0.0.1:1/api/sessions/s/events?follow=true&after=0',
      'http://127.0.0.1:1/api/sessions/s/events?follow=true&after=2',
    ]);
    expect(auths).toEqual(['Bearer k1', 'Bearer k2']);
  });

  it('gives up after the retries when the server stays unreachable', async () => {
    let calls = 0;
    const fake = (async () => {
      calls++;
      throw new TypeError('fetch failed');
    }) as unknown as typeof fetch;
    const controller = new AbortController();
    const p = followEventStream({
      url: 'http://127.0.0.1:1/x',
      headers: () => ({}),
      fetch: fake,
      retries: 0,
      onEvent: () => undefined,
      signal: controller.signal,
    });
    await expect(p).rejects.toThrow('fetch failed');
    expect(calls).toBe(1);
  });

  it('an HTTP error is not retried', async () => {
    const fake = (async () =>
      new Response('{"error":{"code":"not_found"}}', { status: 404 })) as unknown as typeof fetch;
    await expect(
      followEventStream({
        url: 'http://127.0.0.1:1/x',
        headers: () => ({}),
        fetch: fake,
        onEvent: () => undefined,
      }),
    ).rejects.toThrow('HTTP 404');
  });
});
