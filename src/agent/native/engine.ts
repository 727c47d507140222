// The `native` engine: an in-process agent loop on @anthropic-ai/sdk (see ./loop.ts).
import Anthropic from '@anthropic-ai/sdk';
import type { Config } from '../../config.ts';
import { type Engine, EngineError } from '../engine.ts';
import { runLoop } from './loop.ts';
import { DEFAULT_RETRY, type RetryOptions } from './retry.ts';
import { rehearseTurn } from './warm-up.ts';

export interface NativeEngineOptions {
  config: Config;
  /** Custom fetch for the SDK (tests, proxies). */
  fetch?: typeof fetch;
  /** Retry policy of LLM requests (defaults: 5 retries, 1 s base backoff, 30 s cap). */
  retry?: Partial<RetryOptions>;
  /** `max_tokens` of every request (default: per model, 32000 for Claude 4.x). */
  maxTokens?: number;
  /** cache_control breakpoints on the system prompt and the newest message (default true). */
  promptCaching?: boolean;
}

export function createNativeEngine(opts: NativeEngineOptions): Engine {
  const { config } = opts;
  const retry: RetryOptions = { ...DEFAULT_RETRY, ...opts.retry };
  let client: Anthropic | undefined;

  const getClient = (): Anthropic => {
    if (!config.anthropicApiKey) {
      throw new EngineError(
        'missing_api_key',
        'ANTHROPIC_API_KEY is not set: the native engine cannot call the LLM',
      );
    }
    // Retries are ours (./retry.ts): they also cover errors that arrive mid-stream, and each
    // one is announced to the session. The SDK's own retry is therefore off.
    client ??= new Anthropic({
      apiKey: config.anthropicApiKey,
      baseURL: config.anthropicBaseUrl,
      maxRetries: 0,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
    return client;
  };

  return {
    name: 'native',
    async run(ctx) {
      const deps = {
        client: getClient(),
        config,
        retry,
        maxTokens: opts.maxTokens,
        promptCaching: opts.promptCaching ?? true,
      };
      return runLoop(deps, ctx);
    },
    // The SDK client is built here, after the server listens, not in the first run, and one
    // canned turn is streamed over loopback so that the first run's turn is not the first (./warm-up.ts).
    // Not with a custom fetch: it may be a test's recorder or a proxy, neither expects it.
    async warm() {
      if (!config.anthropicApiKey) return;
      getClient();
      if (!opts.fetch) await rehearseTurn().catch(() => {}); // a rehearsal that fails costs nothing
    },
    async close() {
      client = undefined;
    },
  };
}
