// Starts the real server in-process on a random port with a temp DATA_DIR (real SQLite file,
// real git, real workspaces), pointed at a mock Anthropic API.
import { loadConfig } from '../../src/config.ts';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime.ts';
import { capturedLogger, teeLogger } from './log-check.ts';
import { sleep } from './sleep.ts';
import { tempDir } from './temp-dir.ts';

export interface TestServer {
  runtime: Runtime;
  url: string;
  wsUrl: string;
  dataDir: string;
  close(): Promise<void>;
}

export { tempDir } from './temp-dir.ts';

export async function startTestServer(
  env: Record<string, string | undefined> = {},
  opts: RuntimeOptions = {},
  /** Sees every log line the server writes (they are checked for secrets either way). */
  onLogLine?: (line: string) => void,
): Promise<TestServer> {
  const dataDir = env.DATA_DIR ?? (await tempDir());
  const fullEnv = {
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ALLOW_FILE_REPOS: 'true',
    SANDBOX: 'none',
    AGENT_ENGINE: 'native',
    LOG_LEVEL: 'error',
    // Warm Claude Code spares only where a test asks for them (each is a CLI process).
    CLAUDE_SPARES: '0',
    ...env,
  };
  const config = loadConfig(fullEnv);
  // Every line is written at debug level and checked for secrets (test/helpers/log-check.ts), also
  // when the test brings its own logger.
  const checked = capturedLogger(`server ${dataDir}`, config, fullEnv, onLogLine);
  const logger = opts.logger ? teeLogger(opts.logger, checked) : checked;
  const runtime = await createRuntime(config, { ...opts, logger });
  const l = await runtime.start();
  return {
    runtime,
    url: l.url,
    wsUrl: l.url.replace(/^http/, 'ws'),
    dataDir,
    close: () => runtime.shutdown(2_000),
  };
}

export async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  const text = await res.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`not JSON (${res.status}): ${text.slice(0, 500)}`);
  }
}

export async function api(
  base: string,
  method: string,
  p: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  return fetch(base + p, {
    method,
    headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  intervalMs = 50,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('waitFor timed out');
    await sleep(intervalMs);
  }
}
