// The disk-quota watch of one run (sandbox/workspace/disk-quota.ts walks the workspace every few
// seconds), paused while the run is parked at an approval and none of its tools is executing —
// then nothing of the run can write, and a hundred runs waiting for people cost no CPU (docs/api.md
// §10). It restarts (with a walk at once) as soon as a tool executes or the run goes on.
//
// Only for engines whose every process is a tool call through `ctx.tools` (`native`: a tool's
// processes end with its call, the sandbox's PID namespace sees to it). Claude Code runs its own
// tools, background shells included, where the server cannot count them: its runs are never paused.
import type { Tool } from '../tools/types.ts';

export class RunQuota {
  private readonly startWatch: () => () => void;
  private readonly pausable: boolean;
  private stopWatch?: () => void;
  private parked = false;
  private executing = 0;
  private closed = false;

  /** `start` begins a watch and returns its stop function. */
  constructor(start: () => () => void, opts: { pausable: boolean }) {
    this.startWatch = start;
    this.pausable = opts.pausable;
  }

  start(): void {
    this.update();
  }

  /** Whether the watch is running (tests, metrics). */
  get watching(): boolean {
    return this.stopWatch !== undefined;
  }

  park(): void {
    this.parked = true;
    this.update();
  }

  unpark(): void {
    this.parked = false;
    this.update();
  }

  /** `tool`, counted while it executes. */
  wrap<I>(tool: Tool<I>): Tool<I> {
    return {
      ...tool,
      execute: async (input, ctx) => {
        this.executing++;
        this.update();
        try {
          return await tool.execute(input, ctx);
        } finally {
          this.executing--;
          this.update();
        }
      },
    };
  }

  close(): void {
    this.closed = true;
    this.update();
  }

  private update(): void {
    const run = !this.closed && !(this.pausable && this.parked && this.executing === 0);
    if (run && !this.stopWatch) this.stopWatch = this.startWatch();
    else if (!run && this.stopWatch) {
      this.stopWatch();
      this.stopWatch = undefined;
    }
  }
}
