// One rehearsal of a model turn, right after the server listens: a throwaway SDK client streams a
// canned reply from a loopback server of its own, through the same code a run's turn uses
// (`messages.create` with `stream: true`, Node's fetch, `consumeTurn`).
//
// Why: the first run after a start otherwise pays for everything its turn does for the first time —
// undici compiles and instantiates its HTTP parser (WebAssembly), the SDK's request and SSE code and
// ours run cold — ≈ 10 ms on a 2-core machine, a third of that first run (BENCHMARKS.md, "first run
// after a start"). Nothing leaves the machine: the server is on 127.0.0.1, answers this one request
// and is closed; the model's host is not contacted (that would be an unasked request at every
// start), so the first run still opens its own connection.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { consumeTurn } from './stream.ts';

const EVENTS: ReadonlyArray<Record<string, unknown>> = [
  {
    type: 'message_start',
    message: {
      id: 'msg_warm_up',
      type: 'message',
      role: 'assistant',
      model: 'warm-up',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 1, output_tokens: 1 },
    },
  },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'ok' } },
  { type: 'content_block_stop', index: 0 },
  {
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage: { output_tokens: 1 },
  },
  { type: 'message_stop' },
];

const SSE = EVENTS.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('');

/** Streams one canned turn over loopback; resolves with its text ("ok"), rejects within `timeoutMs`. */
export async function rehearseTurn(timeoutMs = 5_000): Promise<string> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.end(SSE);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const { port } = server.address() as AddressInfo;
    const client = new Anthropic({ apiKey: 'warm-up', baseURL: `http://127.0.0.1:${port}`, maxRetries: 0 });
    const stream = await client.messages.create(
      {
        model: 'warm-up',
        max_tokens: 16,
        system: [{ type: 'text', text: 'warm-up', cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: [{ type: 'text', text: 'warm-up' }] }],
        stream: true,
      },
      { signal, maxRetries: 0 },
    );
    const turn = await consumeTurn(stream, () => {}, signal, { emittedText: false });
    return turn.text;
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
