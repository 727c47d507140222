// The live view of `submit --follow` and `follow`: what the agent says as it streams, each tool
// call with its input, output and outcome, approvals and the run's end — with the elapsed time at
// the start of each line. Coloured on a terminal; plain text when the output is not a TTY or
// NO_COLOR is set (node:util styleText decides, from the stream).
import { styleText } from 'node:util';
import type { Event } from '../protocol/index.ts';

type Style = Parameters<typeof styleText>[0];

export interface RenderOptions {
  out: NodeJS.WritableStream;
  /** When the follow started (ms); lines show the time since. */
  startedAt: number;
  now?: () => number;
}

/** One-line summary of a tool's input: the command, the path, or compact JSON. */
export function summarizeInput(name: string, input: unknown): string {
  const o = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {};
  const pick = ['command', 'path', 'file_path', 'pattern', 'url', 'operation', 'action'].find(
    (k) => typeof o[k] === 'string',
  );
  const text = pick ? String(o[pick]) : JSON.stringify(input ?? {});
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 160 ? `${line.slice(0, 157)}…` : line || name;
}

function elapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

const money = (usd: number) => `$${usd.toFixed(4)}`;

export class EventRenderer {
  private o: RenderOptions;
  private now: () => number;
  /** Whether the cursor is in the middle of streamed assistant text. */
  private inText = false;
  private atLineStart = true;

  constructor(o: RenderOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
  }

  private paint(style: Style, text: string): string {
    return styleText(style, text, { stream: this.o.out as NodeJS.WriteStream });
  }

  private write(text: string): void {
    this.o.out.write(text);
    if (text.length > 0) this.atLineStart = text.endsWith('\n');
  }

  /** A whole line, prefixed with the elapsed time (ending streamed text first). */
  private line(text: string, style?: Style): void {
    if (!this.atLineStart) this.write('\n');
    this.inText = false;
    const stamp = this.paint('dim', `[${elapsed(this.now() - this.o.startedAt)}]`);
    this.write(`${stamp} ${style ? this.paint(style, text) : text}\n`);
  }

  render(e: Event): void {
    if (e.type === 'text.delta') {
      if (!this.inText) {
        if (!this.atLineStart) this.write('\n');
        this.write(`${this.paint('dim', `[${elapsed(this.now() - this.o.startedAt)}]`)} `);
        this.inText = true;
      }
      this.write(e.data.text);
    } else if (e.type === 'message.assistant') {
      // Already streamed as deltas: end the paragraph.
      if (this.inText) this.write('\n');
      this.inText = false;
    } else if (e.type === 'tool.output') {
      const text = e.data.chunk.replace(/\n$/, '');
      if (!text) return;
      if (!this.atLineStart) this.write('\n');
      this.inText = false;
      const style: Style = e.data.stream === 'stderr' ? 'red' : 'gray';
      this.write(
        `${text
          .split('\n')
          .map((l) => this.paint(style, `    ${l}`))
          .join('\n')}\n`,
      );
    } else {
      const l = describe(e);
      if (l) this.line(l.text, l.style);
    }
  }

  /** Ends a line of streamed text, if one is open. */
  end(): void {
    if (!this.atLineStart) this.write('\n');
  }
}

/** The line an event shows as (streamed text and output are rendered by the caller). */
function describe(e: Event): { text: string; style: Style } | undefined {
  switch (e.type) {
    case 'message.user':
      return { text: `› ${e.data.text}`, style: 'cyan' };
    case 'run.queued':
      return {
        text: `queued (attempt ${e.data.attempt}${e.data.reason ? `, ${e.data.reason}` : ''})`,
        style: 'dim',
      };
    case 'run.started':
      return {
        text: `▶ run started · ${e.data.engine} · ${e.data.model} · attempt ${e.data.attempt}`,
        style: 'bold',
      };
    case 'tool.started':
      return { text: `⚙ ${e.data.name}  ${summarizeInput(e.data.name, e.data.input)}`, style: 'yellow' };
    case 'tool.completed': {
      const secs = (e.data.durationMs / 1000).toFixed(1);
      return e.data.isError
        ? { text: `✗ ${e.data.name} failed (${secs}s): ${summarizeInput('', e.data.output)}`, style: 'red' }
        : { text: `✓ ${e.data.name} (${secs}s)`, style: 'green' };
    }
    case 'approval.requested':
      return {
        text: `? approval needed (${e.data.rule}) for ${e.data.name}: ${summarizeInput(e.data.name, e.data.input)} — agent-server approve ${e.data.approvalId} [--deny]`,
        style: 'magenta',
      };
    case 'approval.resolved':
      return {
        text: `${e.data.decision === 'allow' ? '✓ allowed' : '✗ denied'} by ${e.data.by}${e.data.message ? `: ${e.data.message}` : ''}`,
        style: e.data.decision === 'allow' ? 'green' : 'red',
      };
    case 'run.completed': {
      const u = e.data.usage;
      return {
        text: `■ completed (${e.data.stopReason}) · ${u.inputTokens} in / ${u.outputTokens} out · ${money(u.costUsd)}`,
        style: 'green',
      };
    }
    case 'run.failed':
      return { text: `■ failed: ${e.data.error.code} — ${e.data.error.message}`, style: 'red' };
    case 'run.cancelled':
      return { text: `■ cancelled${e.data.reason ? ` (${e.data.reason})` : ''}`, style: 'yellow' };
    case 'workflow.status':
      return { text: `workflow ${e.data.workflowId}: ${e.data.status}`, style: 'bold' };
    case 'session.notice':
      return { text: `! ${e.data.message}`, style: 'yellow' };
    case 'text.delta':
    case 'message.assistant':
    case 'tool.output':
      return undefined;
    default:
      // A new event type must be given a line here: this does not compile until it is.
      return e satisfies never;
  }
}
