// A server-sent events parser over a fetch body (WHATWG streams, so Workers and Node alike).
// Handles CRLF and LF line ends, comments (`: keep-alive`), multi-line `data:` and events split
// across chunks. docs/api.md §7: `id:` = seq, `event:` = type, `data:` = the event JSON.

export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  let msg: { id?: string; event?: string; data: string[] } = { data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl = buf.search(/\r\n|\r|\n/);
      while (nl >= 0) {
        // A lone CR at the end may be the first half of a CRLF split across chunks: wait for more.
        if (buf[nl] === '\r' && nl === buf.length - 1) break;
        const line = buf.slice(0, nl);
        buf = buf.slice(buf[nl] === '\r' && buf[nl + 1] === '\n' ? nl + 2 : nl + 1);
        if (line === '') {
          if (msg.data.length > 0) {
            const out: SseMessage = { data: msg.data.join('\n') };
            if (msg.id !== undefined) out.id = msg.id;
            if (msg.event !== undefined) out.event = msg.event;
            yield out;
          }
          msg = { data: [] };
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') msg.data.push(value);
          else if (field === 'id') msg.id = value;
          else if (field === 'event') msg.event = value;
        }
        nl = buf.search(/\r\n|\r|\n/);
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
