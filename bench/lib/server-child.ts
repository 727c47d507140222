// The server under test, in its own process (run with --expose-gc): the same composition root as
// `npm start` (src/runtime.ts), configured from the environment, plus IPC requests for measuring it.
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { serve } from './ipc.ts';

let runtime: Runtime | undefined;
const gc = (globalThis as { gc?: () => void }).gc;

async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 25));
  }
}

serve({
  async start() {
    const config = loadConfig(process.env);
    const logger = createLogger({ level: config.logLevel, write: (l) => process.stderr.write(l) });
    runtime = await createRuntime(config, { logger });
    const l = await runtime.start();
    return { url: l.url, gc: gc !== undefined };
  },
  /** Memory after full GCs (heap numbers are exact; RSS is what the OS charges us). */
  async mem() {
    await settle();
    const m = process.memoryUsage();
    return {
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
    };
  },
  async cpu() {
    const c = process.cpuUsage();
    return { userUs: c.user, systemUs: c.system, at: performance.now() };
  },
  async stop() {
    await runtime?.shutdown(1_000);
    setImmediate(() => process.exit(0));
    return {};
  },
});
