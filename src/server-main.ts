// The server process: reads the environment, refuses unsafe exposure, starts the server,
// and drains on SIGTERM/SIGINT (docs/api.md §1).
import { ConfigError, loadConfig } from './config.ts';
import { createRuntime, createServerLogger } from './runtime.ts';
import { authConfigured } from './server/auth.ts';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createServerLogger(config);
  if (!authConfigured(config)) {
    if (!isLoopback(config.host)) {
      process.stderr.write(
        `refusing to listen on ${config.host}: no authentication is configured. Set API_KEYS (bearer tokens for clients) ` +
          'and/or SIGNING_SECRET (HMAC shared with Tier 1), or bind a loopback address (HOST=127.0.0.1).\n' +
          'With Docker (the image listens on 0.0.0.0): docker run -e API_KEYS=$(openssl rand -hex 32) -e ANTHROPIC_API_KEY=… ' +
          '--security-opt seccomp=deploy/seccomp/bwrap.json --security-opt systempaths=unconfined ' +
          '--security-opt apparmor=unconfined -p 3003:3003 -v agent-data:/data <image> — or use compose.yaml ' +
          '(docs/deployment.md).\n',
      );
      process.exit(2);
    }
    logger.warn(
      `no API_KEYS or SIGNING_SECRET set: serving on loopback (${config.host}) only, without authentication`,
    );
  }
  if (!config.anthropicApiKey) {
    logger.warn(
      'ANTHROPIC_API_KEY is not set: the server runs, but every run will fail with missing_api_key',
    );
  }
  const runtime = await createRuntime(config, { logger });
  const listening = await runtime.start();
  // Signals are handled before the server says it listens: whoever waits for that line may stop it at once.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    logger.info('draining', { signal, graceMs: config.shutdownGraceMs });
    runtime
      .shutdown()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((err) => {
        logger.error('shutdown failed', { err });
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  logger.info('agent server listening', {
    url: listening.url,
    engine: config.engine,
    dataDir: config.dataDir,
    store: runtime.store.dialect,
  });
}

main().catch((err) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
