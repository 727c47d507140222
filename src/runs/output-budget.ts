// How much streamed tool output (`tool.output` events) a run may store and publish: at most
// TOOL_STREAM_LIMIT_BYTES per tool call and RUN_STREAM_LIMIT_BYTES per run. Every byte streamed is
// written to the database and sent to every subscriber, so one `cat /dev/urandom | base64` must not
// cost gigabytes; the tool's RESULT (tool.completed, capped by TOOL_OUTPUT_LIMIT) is unaffected.
// Past a limit the call's chunks are dropped; when the call completes, one last chunk says how
// many bytes were not streamed.

export interface OutputBudgetLimits {
  perCallBytes: number;
  perRunBytes: number;
}

interface CallState {
  streamed: number;
  dropped: number;
  stream: 'stdout' | 'stderr';
  /** Which limit cut the call off. */
  limitedBy?: 'call' | 'run';
}

/** Cuts `text` to at most `maxBytes` of UTF-8 without splitting a character. */
function cutUtf8(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  let end = Math.min(maxBytes, buf.length);
  while (end > 0 && end < buf.length && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

/** The streaming budget of ONE run (the executor makes one per run). */
export class OutputBudget {
  private limits: OutputBudgetLimits;
  private calls = new Map<string, CallState>();
  private runStreamed = 0;

  constructor(limits: OutputBudgetLimits) {
    this.limits = limits;
  }

  /** The part of `chunk` that may be streamed (possibly cut), or undefined when none may. */
  admit(toolUseId: string, stream: 'stdout' | 'stderr', chunk: string): string | undefined {
    let call = this.calls.get(toolUseId);
    if (!call) {
      call = { streamed: 0, dropped: 0, stream };
      this.calls.set(toolUseId, call);
    }
    const bytes = Buffer.byteLength(chunk, 'utf8');
    const callRoom = this.limits.perCallBytes - call.streamed;
    const runRoom = this.limits.perRunBytes - this.runStreamed;
    const room = Math.min(callRoom, runRoom);
    if (bytes <= room) {
      call.streamed += bytes;
      this.runStreamed += bytes;
      return chunk;
    }
    const kept = room > 0 ? cutUtf8(chunk, room) : '';
    const keptBytes = Buffer.byteLength(kept, 'utf8');
    call.streamed += keptBytes;
    this.runStreamed += keptBytes;
    call.dropped += bytes - keptBytes;
    call.stream = stream;
    call.limitedBy ??= callRoom <= runRoom ? 'call' : 'run';
    return kept === '' ? undefined : kept;
  }

  /**
   * Ends a call's stream: the closing notice chunk when some of its output was dropped, else
   * undefined. The call is forgotten either way.
   */
  finish(toolUseId: string): { stream: 'stdout' | 'stderr'; chunk: string } | undefined {
    const call = this.calls.get(toolUseId);
    this.calls.delete(toolUseId);
    if (!call || call.dropped === 0) return undefined;
    const which =
      call.limitedBy === 'call'
        ? `TOOL_STREAM_LIMIT_BYTES=${this.limits.perCallBytes} per tool call`
        : `RUN_STREAM_LIMIT_BYTES=${this.limits.perRunBytes} per run`;
    return {
      stream: call.stream,
      chunk: `\n[output truncated: ${call.dropped} more bytes not streamed (${which}); the tool's result is in tool.completed]\n`,
    };
  }
}
