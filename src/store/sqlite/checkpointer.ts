// Moves WAL checkpoints off the event loop. node:sqlite is synchronous, so a checkpoint run by the
// main connection (SQLite's auto-checkpoint inside a COMMIT) stalls every stream for as long as it
// copies pages to the database file. A worker thread with its own connection runs PASSIVE
// checkpoints instead — they never block writers — and the main connection keeps a far-off
// auto-checkpoint only as a safety net should the worker stop.
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.file);
db.exec('PRAGMA busy_timeout = 1000');
const timer = setInterval(() => {
  try { db.exec('PRAGMA wal_checkpoint(PASSIVE)'); } catch {}
}, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'stop') {
    clearInterval(timer);
    try { db.exec('PRAGMA wal_checkpoint(PASSIVE)'); } catch {}
    db.close();
    parentPort.postMessage('stopped');
  }
});
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

export function startCheckpointer(file: string, intervalMs = 500): Checkpointer {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, intervalMs } });
  worker.unref();
  worker.on('error', () => {}); // the main connection's safety-net auto-checkpoint takes over
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => resolve();
        const t = setTimeout(() => void worker.terminate().then(done, done), 2_000);
        worker.once('message', () => {
          clearTimeout(t);
          void worker.terminate().then(done, done);
        });
        worker.once('exit', () => {
          clearTimeout(t);
          done();
        });
        worker.postMessage('stop');
      }),
  };
}
