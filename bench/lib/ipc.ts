// Request/response over a child process's IPC channel: `{id, type, ...}` → `{id, ...}` or `{id, error}`.
import { type ChildProcess, spawn } from 'node:child_process';

export type Message = { type: string; [k: string]: unknown };

export interface Child {
  proc: ChildProcess;
  call<T>(msg: Message, timeoutMs?: number): Promise<T>;
  /** resolves with the exit code once the process exits */
  exited: Promise<number | null>;
  kill(): Promise<void>;
}

/** Spawns `node [nodeArgs] script` with an IPC channel; stdout/stderr go to ours (stderr only if quiet). */
export function spawnChild(
  script: string,
  opts: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {},
): Child {
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), script], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: opts.env ?? process.env,
  });
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const exited = new Promise<number | null>((resolve) => {
    proc.on('exit', (code) => {
      for (const p of pending.values()) p.reject(new Error(`${script} exited (code ${code})`));
      pending.clear();
      resolve(code);
    });
  });
  proc.on('message', (raw) => {
    const m = raw as { id?: number; error?: string };
    if (typeof m.id !== 'number') return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (typeof m.error === 'string') p.reject(new Error(m.error));
    else p.resolve(m);
  });
  return {
    proc,
    exited,
    call<T>(msg: Message, timeoutMs = 120_000): Promise<T> {
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${script}: no answer to ${msg.type} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(t);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(t);
            reject(e);
          },
        });
        proc.send({ ...msg, id });
      });
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Child side: answers requests with the handler for their type. */
export function serve(handlers: Record<string, (msg: Message) => Promise<Record<string, unknown>>>): void {
  process.on('message', (raw) => {
    const msg = raw as Message & { id: number };
    const h = handlers[msg.type];
    const reply = (body: Record<string, unknown>): void => {
      process.send?.({ ...body, id: msg.id });
    };
    if (!h) return reply({ error: `unknown request ${msg.type}` });
    h(msg).then(reply, (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }));
  });
  // The parent going away ends us too.
  process.on('disconnect', () => process.exit(0));
}
