// Token metering of Messages API responses as they stream through the LLM proxy: SSE
// (`message_start` and `message_delta` usage) and plain JSON (`usage`). The bytes are passed on
// unchanged by the caller; the meter only reads a copy, with bounded state (one line, or a capped
// JSON body and then only its tail).
import { StringDecoder } from 'node:string_decoder';
import zlib from 'node:zlib';

export interface LlmUsage {
  /** Messages requests the upstream accepted (2xx). */
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
}

type TokenField = Exclude<keyof LlmUsage, 'requests'>;
const FIELDS: ReadonlyArray<[TokenField, string]> = [
  ['inputTokens', 'input_tokens'],
  ['outputTokens', 'output_tokens'],
  ['cacheCreationInputTokens', 'cache_creation_input_tokens'],
  ['cacheReadInputTokens', 'cache_read_input_tokens'],
];

export function emptyUsage(): LlmUsage {
  return {
    requests: 0,
    inputTokens: 0,
    outputTokens: 0,
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: 0,
  };
}

export function addUsage(into: LlmUsage, d: LlmUsage): void {
  into.requests += d.requests;
  for (const [f] of FIELDS) into[f] += d[f];
}

/** A usage line longer than this is not usage (message_start carries an empty message): skipped. */
const MAX_LINE = 256 * 1024;
/** Non-streamed bodies up to this size are parsed whole; beyond it only the tail is kept. */
const MAX_JSON = 4 * 1024 * 1024;
const TAIL = 64 * 1024;

export interface ResponseMeter {
  push(chunk: Buffer): void;
  /** `complete`: the upstream finished the response (false: cut off, estimate what was streamed). */
  end(complete: boolean): void;
}

/**
 * Meters one response. `onDelta` receives increments as soon as they are known (usage values in a
 * stream are cumulative per message), so a budget can act while the stream is still running.
 */
export function responseMeter(opts: {
  streaming: boolean;
  contentEncoding?: string;
  onDelta: (d: LlmUsage) => void;
}): ResponseMeter {
  const parser = opts.streaming ? sseParser(opts.onDelta) : jsonParser(opts.onDelta);
  const dec = decompressor(opts.contentEncoding);
  if (!dec) return parser;
  // A gateway that compresses although asked for identity: meter a decompressed copy.
  let complete = false;
  dec.on('data', (c: Buffer) => parser.push(c));
  dec.on('error', () => {});
  dec.on('close', () => parser.end(complete));
  return {
    push: (c) => dec.write(c),
    end(done) {
      complete = done;
      dec.end();
    },
  };
}

function decompressor(
  encoding: string | undefined,
): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | null {
  const e = (encoding ?? '').trim().toLowerCase();
  if (e === 'gzip' || e === 'x-gzip') return zlib.createGunzip();
  if (e === 'deflate') return zlib.createInflate();
  if (e === 'br') return zlib.createBrotliDecompress();
  return null;
}

class Cumulative {
  cur = emptyUsage();
  private reported = emptyUsage();
  private onDelta: (d: LlmUsage) => void;
  constructor(onDelta: (d: LlmUsage) => void) {
    this.onDelta = onDelta;
  }

  /** The fields present in `u` replace the current values (a message_delta repeats only some). */
  set(u: unknown): void {
    if (typeof u !== 'object' || u === null) return;
    const rec = u as Record<string, unknown>;
    for (const [f, wire] of FIELDS) {
      const v = rec[wire];
      if (typeof v === 'number' && Number.isFinite(v) && v >= 0) this.cur[f] = Math.floor(v);
    }
  }

  report(): void {
    const d = emptyUsage();
    let any = false;
    for (const [f] of FIELDS) {
      const inc = this.cur[f] - this.reported[f];
      if (inc > 0) {
        d[f] = inc;
        this.reported[f] = this.cur[f];
        any = true;
      }
    }
    if (any) this.onDelta(d);
  }
}

function sseParser(onDelta: (d: LlmUsage) => void): ResponseMeter {
  const usage = new Cumulative(onDelta);
  const decoder = new StringDecoder('utf8');
  let line = '';
  let skipping = false; // inside an over-long line: drop it up to its newline
  let sawFinalUsage = false;
  let deltaChars = 0; // content delta payload seen, for an estimate when the stream is cut

  function onLine(l: string): void {
    if (!l.startsWith('data:')) return;
    const data = l.slice(5).trimStart();
    if (data.startsWith('{"type":"content_block_delta"')) {
      deltaChars += data.length;
      return;
    }
    if (!data.includes('"message_start"') && !data.includes('"message_delta"')) return;
    let ev: unknown;
    try {
      ev = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof ev !== 'object' || ev === null) return;
    const e = ev as { type?: unknown; message?: { usage?: unknown }; usage?: unknown };
    if (e.type === 'message_start') {
      usage.set(e.message?.usage);
      usage.report();
    } else if (e.type === 'message_delta') {
      usage.set(e.usage);
      if (typeof e.usage === 'object' && e.usage !== null && 'output_tokens' in e.usage) sawFinalUsage = true;
      usage.report();
    }
  }

  return {
    push(chunk) {
      let text = decoder.write(chunk);
      while (text.length > 0) {
        const nl = text.indexOf('\n');
        const piece = nl === -1 ? text : text.slice(0, nl);
        if (!skipping) {
          line += piece;
          if (line.length > MAX_LINE) {
            // too long to be a usage event; still a content delta for the estimate
            if (line.startsWith('data:')) deltaChars += line.length;
            line = '';
            skipping = true;
          }
        } else deltaChars += piece.length;
        if (nl === -1) break;
        if (!skipping) onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
        line = '';
        skipping = false;
        text = text.slice(nl + 1);
      }
    },
    end() {
      if (line && !skipping) onLine(line);
      line = '';
      // A stream cut before its final message_delta: the output generated so far is billed but was
      // never reported. Estimate it from the deltas passed on (≈ 4 characters per token, JSON
      // framing included, so rather high).
      if (!sawFinalUsage && deltaChars > 0) {
        const est = Math.ceil(deltaChars / 4);
        if (est > usage.cur.outputTokens) usage.cur.outputTokens = est;
        usage.report();
      }
    },
  };
}

function jsonParser(onDelta: (d: LlmUsage) => void): ResponseMeter {
  const usage = new Cumulative(onDelta);
  let parts: Buffer[] = [];
  let size = 0;
  let overflow = false;
  let tail = Buffer.alloc(0);
  return {
    push(chunk) {
      if (!overflow) {
        parts.push(chunk);
        size += chunk.length;
        if (size <= MAX_JSON) return;
        overflow = true;
        tail = Buffer.concat(parts);
        parts = [];
      } else tail = Buffer.concat([tail, chunk]);
      if (tail.length > TAIL) tail = tail.subarray(tail.length - TAIL);
    },
    end(complete) {
      if (!complete) return;
      let u: unknown;
      if (!overflow) {
        try {
          u = (JSON.parse(Buffer.concat(parts).toString('utf8')) as { usage?: unknown }).usage;
        } catch {
          return;
        }
      } else u = usageFromTail(tail.toString('utf8'));
      usage.set(u);
      usage.report();
    },
  };
}

/** The last `"usage": {…}` object in the tail of a large JSON body (the API puts usage last). */
export function usageFromTail(text: string): unknown {
  const at = text.lastIndexOf('"usage"');
  if (at === -1) return undefined;
  const open = text.indexOf('{', at);
  if (open === -1) return undefined;
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) {
      try {
        return JSON.parse(text.slice(open, i + 1));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
