// The SSE stream writer: a reply as Messages API stream events, with backpressure and client-close handling.
import type { ServerResponse } from 'node:http';
import { DEFAULT_ERROR_MESSAGES } from './errors.ts';
import { type Built, fakeSignature, messageObject } from './reply.ts';
import type { MockReply } from './types.ts';

const DEFAULT_TEXT_CHUNK = 16;
const DEFAULT_JSON_CHUNK = 20;

/** Slices `s` into pieces of about `size` characters (lazily), never splitting a surrogate pair. */
function* chunks(s: string, size: number): Generator<string> {
  const n = Math.max(1, Math.floor(size));
  let i = 0;
  while (i < s.length) {
    let end = Math.min(s.length, i + n);
    const c = s.charCodeAt(end - 1);
    if (end < s.length && c >= 0xd800 && c <= 0xdbff) end++;
    yield s.slice(i, end);
    i = end;
  }
}

interface Stream {
  res: ServerResponse;
  closed: boolean;
  wake: (() => void) | undefined;
}

function waitDrain(st: Stream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      st.res.off('drain', done);
      st.wake = undefined;
      resolve();
    };
    st.res.on('drain', done);
    st.wake = done;
  });
}

function sleep(st: Stream, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      st.wake = undefined;
      resolve();
    };
    const timer = setTimeout(done, ms);
    st.wake = done;
  });
}

async function emit(st: Stream, event: string, data: unknown): Promise<void> {
  if (st.closed) return;
  const ok = st.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  if (!ok && !st.closed) await waitDrain(st);
}

export async function streamReply(
  res: ServerResponse,
  built: Built,
  reply: MockReply,
  model: string,
  requestId: string,
): Promise<void> {
  const st: Stream = { res, closed: false, wake: undefined };
  const onClose = (): void => {
    st.closed = true;
    st.wake?.();
  };
  res.on('close', onClose);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'request-id': requestId,
  });
  const delay = reply.deltaDelayMs ?? 0;
  const textChunk = reply.chunkSize ?? DEFAULT_TEXT_CHUNK;
  const jsonChunk = reply.chunkSize ?? DEFAULT_JSON_CHUNK;
  let first = true;
  const pause = async (): Promise<void> => {
    if (first) {
      first = false;
      return;
    }
    if (delay > 0 && !st.closed) await sleep(st, delay);
  };

  try {
    await emit(st, 'message_start', {
      type: 'message_start',
      message: messageObject(built, model, [], false),
    });
    if (built.blocks.length === 0) await emit(st, 'ping', { type: 'ping' });
    for (const [index, b] of built.blocks.entries()) {
      if (st.closed) return;
      const block = b.block;
      if (block.type === 'text') {
        await emit(st, 'content_block_start', {
          type: 'content_block_start',
          index,
          content_block: { type: 'text', text: '' },
        });
        if (index === 0) await emit(st, 'ping', { type: 'ping' });
        if (block.text.length > 0) {
          for (const piece of chunks(block.text, textChunk)) {
            if (st.closed) return;
            await pause();
            await emit(st, 'content_block_delta', {
              type: 'content_block_delta',
              index,
              delta: { type: 'text_delta', text: piece },
            });
          }
        }
      } else if (block.type === 'thinking') {
        await emit(st, 'content_block_start', {
          type: 'content_block_start',
          index,
          content_block: { type: 'thinking', thinking: '', signature: '' },
        });
        if (index === 0) await emit(st, 'ping', { type: 'ping' });
        for (const piece of chunks(block.thinking, textChunk)) {
          if (st.closed) return;
          await pause();
          await emit(st, 'content_block_delta', {
            type: 'content_block_delta',
            index,
            delta: { type: 'thinking_delta', thinking: piece },
          });
        }
        await emit(st, 'content_block_delta', {
          type: 'content_block_delta',
          index,
          delta: { type: 'signature_delta', signature: fakeSignature() },
        });
      } else {
        await emit(st, 'content_block_start', {
          type: 'content_block_start',
          index,
          content_block: { type: 'tool_use', id: b.id, name: block.name, input: {} },
        });
        if (index === 0) await emit(st, 'ping', { type: 'ping' });
        // The real API opens every tool input with an empty partial_json.
        await emit(st, 'content_block_delta', {
          type: 'content_block_delta',
          index,
          delta: { type: 'input_json_delta', partial_json: '' },
        });
        for (const piece of chunks(b.json, jsonChunk)) {
          if (st.closed) return;
          await pause();
          await emit(st, 'content_block_delta', {
            type: 'content_block_delta',
            index,
            delta: { type: 'input_json_delta', partial_json: piece },
          });
        }
      }
      await emit(st, 'content_block_stop', { type: 'content_block_stop', index });
      if (reply.midStreamError) break;
    }
    if (reply.midStreamError) {
      const type = reply.midStreamError;
      await emit(st, 'error', {
        type: 'error',
        error: { type, message: DEFAULT_ERROR_MESSAGES[type] ?? 'Error' },
        request_id: requestId,
      });
    } else {
      await emit(st, 'message_delta', {
        type: 'message_delta',
        delta: { stop_reason: built.stopReason, stop_sequence: built.stopSequence },
        usage: { output_tokens: built.outputTokens },
      });
      await emit(st, 'message_stop', { type: 'message_stop' });
    }
    if (!st.closed) res.end();
  } finally {
    res.off('close', onClose);
  }
}
