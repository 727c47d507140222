// Responder building blocks for the mock Anthropic API.
import type { MessagesRequest, MockError, MockReply, MockTurn, Responder } from './types.ts';

export function textReply(text: string, opts: Partial<MockReply> = {}): MockReply {
  return { ...opts, kind: 'reply', blocks: [{ type: 'text', text }] };
}

/** An optional leading text block, then one tool_use block (stop_reason tool_use). */
export function toolCall(name: string, input: unknown, opts: { id?: string; text?: string } = {}): MockReply {
  const reply: MockReply = { kind: 'reply', blocks: [] };
  if (opts.text !== undefined) reply.blocks.push({ type: 'text', text: opts.text });
  reply.blocks.push(
    opts.id !== undefined
      ? { type: 'tool_use', id: opts.id, name, input }
      : { type: 'tool_use', name, input },
  );
  return reply;
}

/** Number of assistant messages in the request: the position of the next turn in a conversation. */
export function turnIndex(req: MessagesRequest): number {
  let k = 0;
  for (const m of req.messages) if (m.role === 'assistant') k++;
  return k;
}

/**
 * Stateless script: the reply to a request is `turns[k]` where k is the number of assistant messages
 * in `req.messages`, so retries and concurrent conversations all get the right turn.
 * Beyond the end → `fallback` (default: a text reply "done").
 */
export function scripted(turns: MockTurn[], opts: { fallback?: MockTurn } = {}): Responder {
  const fallback = opts.fallback ?? textReply('done');
  return (req) => turns[turnIndex(req)] ?? fallback;
}

/** Stateful: the first `n` requests get `error`, later ones are delegated to `next`. */
export function failFirst(n: number, error: MockError, next: Responder): Responder {
  let seen = 0;
  return (req, info) => {
    if (seen < n) {
      seen++;
      return error;
    }
    return next(req, info);
  };
}

const MARKER = /\[\[script:([A-Za-z0-9_.:-]+)\]\]/;

/** The text blocks of a message's content (string content counts as one). */
export function textsOf(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  if (!Array.isArray(content)) return [];
  const out: string[] = [];
  for (const b of content) {
    if (typeof b === 'object' && b !== null && (b as { type?: unknown }).type === 'text') {
      const t = (b as { text?: unknown }).text;
      if (typeof t === 'string') out.push(t);
    }
  }
  return out;
}

/** The `[[script:NAME]]` marker of a conversation (first user message first, then the system prompt). */
export function findMarker(req: MessagesRequest): string | undefined {
  const firstUser = req.messages.find((m) => m.role === 'user');
  const texts = [...(firstUser ? textsOf(firstUser.content) : []), ...textsOf(req.system)];
  for (const t of texts) {
    const m = MARKER.exec(t);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Routes on the first `[[script:NAME]]` marker found in the conversation's first user message
 * (string content or text blocks) or, failing that, in the system prompt (string or text blocks).
 * No marker, or no route of that name → `fallback` (default: a text reply "done").
 */
export function byMarker(routes: Record<string, Responder>, fallback?: Responder): Responder {
  const fb: Responder = fallback ?? (() => textReply('done'));
  return (req, info) => {
    const name = findMarker(req);
    const route = name !== undefined && Object.hasOwn(routes, name) ? routes[name] : undefined;
    return (route ?? fb)(req, info);
  };
}

const LOREM =
  'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et ' +
  'dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip. ';

/** For benchmarks: every request gets a text reply of `totalChars` characters streamed in chunks. */
export function streamingText(
  totalChars: number,
  opts: { chunkSize?: number; deltaDelayMs?: number } = {},
): Responder {
  const n = Math.max(0, Math.floor(totalChars));
  const text = LOREM.repeat(Math.ceil(n / LOREM.length)).slice(0, n);
  const reply = textReply(text, {
    chunkSize: opts.chunkSize ?? 16,
    ...(opts.deltaDelayMs !== undefined ? { deltaDelayMs: opts.deltaDelayMs } : {}),
  });
  return () => reply;
}

/** The tool_result blocks of the last user message, content flattened to text. */
export function lastToolResults(
  req: MessagesRequest,
): Array<{ toolUseId: string; content: string; isError: boolean }> {
  let last: MessagesRequest['messages'][number] | undefined;
  for (let i = req.messages.length - 1; i >= 0; i--) {
    const m = req.messages[i];
    if (m?.role === 'user') {
      last = m;
      break;
    }
  }
  if (!last || !Array.isArray(last.content)) return [];
  const out: Array<{ toolUseId: string; content: string; isError: boolean }> = [];
  for (const b of last.content) {
    if (b.type !== 'tool_result') continue;
    const content = typeof b.content === 'string' ? b.content : textsOf(b.content).join('\n');
    out.push({
      toolUseId: typeof b.tool_use_id === 'string' ? b.tool_use_id : '',
      content,
      isError: b.is_error === true,
    });
  }
  return out;
}
