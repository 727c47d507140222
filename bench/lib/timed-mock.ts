// A minimal Anthropic Messages API for the streaming and memory benchmarks. Unlike the scripted
// mock (src/mock-llm), whose reply text is fixed before streaming starts, every text delta here is
// built at the moment it is written and carries its own emit time, `⟨t=<epoch ms, µs precision>⟩`,
// so a client on the same machine can compute emit → receive latency per delta.
//
// A stream opens at once (message_start, content_block_start) and then:
//   before `go()`: holds, emitting a delta every `holdIntervalMs` (0: none) — a run that is active
//                  but waiting on a slow model;
//   after `go()`:  emits a delta every `intervalMs` (first one at a random phase within the interval,
//                  so streams do not tick in lockstep) until `deltasPerStream` are out or `finish()`.
// then closes the message properly (content_block_stop, message_delta, message_stop).
//
// `divert` answers some requests with a short complete reply instead (e.g. Claude Code's side
// requests: title generation, quota probes); those are not streams and are not counted.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TimedMockOptions {
  intervalMs: number;
  holdIntervalMs: number;
  /** deltas per stream after go(); Infinity: until finish() */
  deltasPerStream: number;
  /** before go(): an SSE `ping` event every this many ms on every held stream (0: none) — keeps idle streams alive without stamps */
  holdPingMs?: number;
  /** text of a short complete reply for a request that must not become a held stream; undefined: stream it */
  divert?: (body: unknown) => string | undefined;
}

export interface TimedMock {
  url: string;
  /** streams currently open */
  readonly open: number;
  /** messages requests received so far (diverted ones not included) */
  readonly requests: number;
  /** requests answered by `divert` */
  readonly diverted: number;
  /** deltas written since the last reset() */
  readonly emitted: number;
  /** epoch ms of the last go() */
  readonly goAt: number;
  configure(opts: Partial<TimedMockOptions>): void;
  go(): void;
  finish(): void;
  /** back to holding; counters to zero */
  reset(): void;
  /** resolves once `n` streams are open */
  waitOpen(n: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Wall-clock epoch milliseconds with sub-millisecond precision (monotonic within a process). */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** Every `⟨t=…⟩` stamp in a (possibly coalesced) delta text. */
export function stampsIn(text: string): number[] {
  const out: number[] = [];
  const re = /⟨t=(\d+(?:\.\d+)?)⟩/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) out.push(Number(m[1]));
  return out;
}

interface Stream {
  res: ServerResponse;
  sent: number;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
}

const sse = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

export function startTimedMock(initial: Partial<TimedMockOptions> = {}): Promise<TimedMock> {
  const opts: TimedMockOptions = { intervalMs: 50, holdIntervalMs: 0, deltasPerStream: Infinity, ...initial };
  const streams = new Set<Stream>();
  let requests = 0;
  let diverted = 0;
  let emitted = 0;
  let going = false;
  let goAt = 0;
  let finishing = false;
  let msgCounter = 0;
  const openWaiters: Array<{ n: number; resolve: () => void }> = [];

  const checkWaiters = (): void => {
    for (let i = openWaiters.length - 1; i >= 0; i--) {
      const w = openWaiters[i]!;
      if (streams.size >= w.n) {
        openWaiters.splice(i, 1);
        w.resolve();
      }
    }
  };

  const end = (st: Stream): void => {
    if (st.done) return;
    st.done = true;
    if (st.timer) clearTimeout(st.timer);
    streams.delete(st);
    if (st.res.destroyed) return;
    st.res.end(
      sse('content_block_stop', { type: 'content_block_stop', index: 0 }) +
        sse('message_delta', {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn', stop_sequence: null },
          usage: { output_tokens: Math.max(1, st.sent * 8) },
        }) +
        sse('message_stop', { type: 'message_stop' }),
    );
  };

  const writeDelta = (st: Stream): void => {
    if (st.done || st.res.destroyed) return;
    st.sent++;
    emitted++;
    st.res.write(
      sse('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: `⟨t=${epochMs().toFixed(3)}⟩ ` },
      }),
    );
  };

  /** (Re)arms the stream's timer for its current phase. */
  const arm = (st: Stream, first: boolean): void => {
    if (st.done) return;
    if (st.timer) clearTimeout(st.timer);
    st.timer = undefined;
    if (finishing) {
      end(st);
      return;
    }
    if (going) {
      if (st.sent >= opts.deltasPerStream) {
        end(st);
        return;
      }
      const wait = first ? Math.random() * opts.intervalMs : opts.intervalMs;
      st.timer = setTimeout(() => {
        writeDelta(st);
        arm(st, false);
      }, wait);
    } else if (opts.holdIntervalMs > 0) {
      st.timer = setTimeout(() => {
        writeDelta(st);
        arm(st, false);
      }, opts.holdIntervalMs);
    } else if ((opts.holdPingMs ?? 0) > 0) {
      st.timer = setTimeout(() => {
        if (!st.done && !st.res.destroyed) st.res.write(sse('ping', { type: 'ping' }));
        arm(st, false);
      }, opts.holdPingMs);
    }
  };

  const replyShort = (
    res: ServerResponse,
    stream: boolean,
    id: string,
    model: string,
    text: string,
  ): void => {
    const message = { id, type: 'message', role: 'assistant', model, stop_sequence: null };
    const usage = { input_tokens: 100, output_tokens: Math.max(1, Math.ceil(text.length / 4)) };
    if (!stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ ...message, content: [{ type: 'text', text }], stop_reason: 'end_turn', usage }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.end(
      sse('message_start', {
        type: 'message_start',
        message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } },
      }) +
        sse('content_block_start', {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'text', text: '' },
        }) +
        sse('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'text_delta', text },
        }) +
        sse('content_block_stop', { type: 'content_block_stop', index: 0 }) +
        sse('message_delta', {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn', stop_sequence: null },
          usage: { output_tokens: usage.output_tokens },
        }) +
        sse('message_stop', { type: 'message_stop' }),
    );
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method !== 'POST' || path !== '/v1/messages') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'not found' } }));
        return;
      }
      let body: { model?: string; stream?: boolean } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        // answered below as a stream anyway
      }
      const id = `msg_bench${(msgCounter++).toString().padStart(16, '0')}`;
      const model = body.model ?? 'claude-sonnet-4-6';
      const usage = { input_tokens: 100, output_tokens: 1 };
      const short = opts.divert?.(body);
      if (short !== undefined) {
        diverted++;
        replyShort(res, body.stream === true, id, model, short);
        return;
      }
      requests++;
      if (body.stream !== true) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id,
            type: 'message',
            role: 'assistant',
            model,
            content: [{ type: 'text', text: 'ok' }],
            stop_reason: 'end_turn',
            stop_sequence: null,
            usage,
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      res.write(
        sse('message_start', {
          type: 'message_start',
          message: {
            id,
            type: 'message',
            role: 'assistant',
            model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage,
          },
        }) +
          sse('content_block_start', {
            type: 'content_block_start',
            index: 0,
            content_block: { type: 'text', text: '' },
          }) +
          sse('ping', { type: 'ping' }),
      );
      const st: Stream = { res, sent: 0, timer: undefined, done: false };
      streams.add(st);
      res.on('close', () => {
        if (st.timer) clearTimeout(st.timer);
        st.done = true;
        streams.delete(st);
      });
      arm(st, true);
      checkWaiters();
    });
  };

  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, handle);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
      const { port } = server.address() as AddressInfo;
      const mock: TimedMock = {
        url: `http://127.0.0.1:${port}`,
        get open() {
          return streams.size;
        },
        get requests() {
          return requests;
        },
        get diverted() {
          return diverted;
        },
        get emitted() {
          return emitted;
        },
        get goAt() {
          return goAt;
        },
        configure(o) {
          Object.assign(opts, o);
        },
        go() {
          going = true;
          goAt = epochMs();
          for (const st of streams) arm(st, true);
        },
        finish() {
          finishing = true;
          for (const st of [...streams]) end(st);
        },
        reset() {
          going = false;
          finishing = false;
          emitted = 0;
          requests = 0;
        },
        waitOpen(n, timeoutMs) {
          if (streams.size >= n) return Promise.resolve();
          return new Promise((res, rej) => {
            const w = {
              n,
              resolve: () => {
                clearTimeout(t);
                res();
              },
            };
            const t = setTimeout(() => {
              openWaiters.splice(openWaiters.indexOf(w), 1);
              rej(new Error(`only ${streams.size}/${n} LLM streams open after ${timeoutMs} ms`));
            }, timeoutMs);
            openWaiters.push(w);
          });
        },
        close() {
          return new Promise((done) => {
            for (const st of [...streams]) end(st);
            server.close(() => done());
            server.closeAllConnections();
          });
        },
      };
      resolve(mock);
    });
  });
}
