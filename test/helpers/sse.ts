// Reads an SSE stream with fetch until a predicate holds; returns the parsed events.
export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

export async function readSse(
  url: string,
  until: (events: SseEvent[]) => boolean,
  opts: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<SseEvent[]> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), opts.timeoutMs ?? 30_000);
  const res = await fetch(url, {
    headers: { Accept: 'text/event-stream', ...opts.headers },
    signal: ctrl.signal,
  });
  if (!res.ok || !res.body) throw new Error(`SSE HTTP ${res.status}: ${await res.text()}`);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let idx = buf.indexOf('\n\n');
      while (idx >= 0) {
        const block = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        const ev: SseEvent = { data: '' };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const [k, ...rest] = line.split(':');
          const v = rest.join(':').replace(/^ /, '');
          if (k === 'id') ev.id = v;
          else if (k === 'event') ev.event = v;
          else if (k === 'data') data.push(v);
        }
        if (data.length > 0) {
          ev.data = data.join('\n');
          events.push(ev);
        }
        idx = buf.indexOf('\n\n');
      }
      if (until(events)) break;
    }
  } finally {
    clearTimeout(timer);
    ctrl.abort();
  }
  return events;
}
