// Flushes the SQLite WAL (fdatasync) on a thread of its own, for SqliteDb's durable commits.
//
// Why not `fs.fdatasync` on libuv's thread pool: that pool has 4 threads shared with every fs call
// the server makes — including the walks and reads of workspaces that agents fill (disk-quota walks,
// the fs tool reading a large file). A flush queued behind those would hold every acknowledgement of
// every session (202s, run starts, stored events) for as long as one agent keeps the pool busy. Here
// a flush waits only for the flush before it. Why not in the main thread (SQLite's synchronous=FULL):
// the event loop would stand still for every flush (db.ts, #commit).
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
let fd;
parentPort.on('message', (id) => {
  try {
    if (fd === undefined) fd = fs.openSync(workerData.file, 'r+');
    fs.fdatasyncSync(fd);
    parentPort.postMessage({ id });
  } catch (e) {
    parentPort.postMessage({ id, error: (e && e.message) || String(e) });
  }
});
`;

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class WalFlusher {
  readonly #worker: Worker;
  #next = 0;
  #pending = new Map<number, Pending>();
  #asked = new Set<Promise<void>>();
  /** Set once the thread is gone (closed or crashed): later flushes fail at once. */
  #gone: Error | undefined;

  /** `file`: the WAL (`<db>-wal`); opened by the thread at its first flush. */
  constructor(file: string) {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file } });
    this.#worker.unref(); // an idle flusher must not keep the process alive
    this.#worker.on('message', (m: { id: number; error?: string }) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.error === undefined) p.resolve();
      else p.reject(new Error(`WAL flush failed: ${m.error}`));
    });
    const fail = (err: Error) => {
      this.#gone ??= err;
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    };
    this.#worker.on('error', (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))));
    this.#worker.on('exit', (code) => fail(new Error(`WAL flusher exited (code ${code})`)));
  }

  /** The thread is gone (crashed or closed): a new flusher must take over. */
  get gone(): boolean {
    return this.#gone !== undefined;
  }

  /** Resolves once everything written to the WAL before this call is on disk. */
  flush(): Promise<void> {
    if (this.#gone) return Promise.reject(this.#gone);
    const id = this.#next++;
    const done = new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage(id);
    });
    this.#asked.add(done);
    const forget = () => this.#asked.delete(done);
    done.then(forget, forget);
    return done;
  }

  /** Ends the thread once the flushes asked for so far have answered. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#asked]);
    this.#gone ??= new Error('WAL flusher closed');
    await this.#worker.terminate();
  }
}
