// Runs one child process for a tool: through the sandbox wrapper, in its own process group, with a
// timeout, abort, streamed output and a bounded transcript. The whole group is SIGKILLed when the
// command ends for any reason, so `cmd &`/`nohup cmd &` leftovers do not outlive the tool call.
// A child that calls setsid() leaves the group and escapes this; the bwrap sandbox's PID namespace
// (--unshare-pid --die-with-parent) is what catches those.
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { OutputCap } from './output-cap.ts';
import type { ProcessSpec, SandboxWrapper } from './types.ts';

export interface RunOptions {
  sandbox: SandboxWrapper;
  timeoutMs: number;
  signal?: AbortSignal;
  onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
  /** Characters of output kept (first and last half). */
  outputLimit: number;
  /** Written to the child's stdin, which is then closed; without it stdin is /dev/null. */
  stdin?: string;
}

export interface RunResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  aborted: boolean;
  /** stdout and stderr interleaved in arrival order, capped. */
  output: string;
  truncated: boolean;
  durationMs: number;
  /** Set when the process could not be started at all (e.g. command not found). */
  spawnError?: string;
}

/** After the main process exits, how long to wait for pipes held by escaped children. */
const PIPE_DRAIN_MS = 2000;

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

function emptyResult(): RunResult {
  return {
    exitCode: null,
    signal: null,
    timedOut: false,
    aborted: false,
    output: '',
    truncated: false,
    durationMs: 0,
  };
}

export function runProcess(spec: ProcessSpec, opts: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const cap = new OutputCap(opts.outputLimit);
  const elapsed = () => Math.round(performance.now() - started);

  if (opts.signal?.aborted) return Promise.resolve({ ...emptyResult(), aborted: true });

  const wrapped = opts.sandbox.wrap(spec);
  return new Promise<RunResult>((resolve) => {
    let timedOut = false;
    let aborted = false;
    let exitCode: number | null = null;
    let exitSignal: string | null = null;
    let settled = false;
    let drainTimer: NodeJS.Timeout | undefined;
    let timer: NodeJS.Timeout | undefined;

    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(wrapped.command, wrapped.args, {
        cwd: wrapped.cwd,
        env: wrapped.env,
        detached: true,
        stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        windowsHide: true,
      });
    } catch (err) {
      wrapped.release?.();
      // Invalid arguments (e.g. a NUL byte) throw synchronously instead of emitting 'error'.
      const msg = `failed to start ${wrapped.command}: ${(err as Error).message}`;
      resolve({ ...emptyResult(), output: msg, durationMs: elapsed(), spawnError: msg });
      return;
    }

    const finish = (spawnError?: string) => {
      if (settled) return;
      settled = true;
      wrapped.release?.();
      clearTimeout(timer);
      clearTimeout(drainTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      const result: RunResult = {
        exitCode,
        signal: exitSignal,
        timedOut,
        aborted,
        output: cap.toString(),
        truncated: cap.truncated,
        durationMs: elapsed(),
      };
      if (spawnError !== undefined) result.spawnError = spawnError;
      resolve(result);
    };

    const onAbort = () => {
      aborted = true;
      killGroup(child.pid);
    };
    timer = setTimeout(
      () => {
        timedOut = true;
        killGroup(child.pid);
      },
      Math.min(Math.max(1, opts.timeoutMs), 2_147_483_647), // setTimeout overflows above 2^31-1
    );
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    // A throwing listener must not become an uncaught exception in a stream handler.
    const emit = (stream: 'stdout' | 'stderr', text: string) => {
      try {
        opts.onOutput?.(stream, text);
      } catch {
        // ignored: the transcript in `output` is still complete
      }
    };
    for (const stream of ['stdout', 'stderr'] as const) {
      const decoder = new StringDecoder('utf8');
      const readable = child[stream];
      readable?.on('data', (buf: Buffer) => {
        const text = decoder.write(buf);
        if (text.length === 0) return;
        cap.push(text);
        emit(stream, text);
      });
      readable?.on('end', () => {
        const text = decoder.end();
        if (text.length === 0) return;
        cap.push(text);
        emit(stream, text);
      });
    }

    if (child.stdin) {
      child.stdin.on('error', () => {
        // EPIPE when the child exits without reading its input: not our failure.
      });
      child.stdin.end(opts.stdin);
    }

    child.on('error', (err) => {
      const msg = `failed to start ${wrapped.command}: ${err.message}`;
      cap.push(msg);
      finish(msg);
    });
    child.on('exit', (code, sig) => {
      exitCode = code;
      exitSignal = sig;
      // Background children still in the group die with it; their pipe ends close too.
      killGroup(child.pid);
      drainTimer = setTimeout(() => finish(), PIPE_DRAIN_MS);
    });
    child.on('close', () => finish());
  });
}
