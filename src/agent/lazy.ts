// Loads an engine's module on its first run, so start-up does not pay for SDKs it may never use
// (the Claude Agent SDK and the Anthropic SDK together are most of the cold-start import time).
import type { EngineName } from '../protocol/index.ts';
import type { Engine, EngineResult, EngineRunContext } from './engine.ts';

export function lazyEngine(name: EngineName, load: () => Promise<Engine>): Engine {
  let loading: Promise<Engine> | undefined;
  const get = () => {
    loading ??= load().catch((err) => {
      loading = undefined; // a failed load may succeed on the next run
      throw err;
    });
    return loading;
  };
  return {
    name,
    run: async (ctx: EngineRunContext): Promise<EngineResult> => (await get()).run(ctx),
    close: async () => {
      if (loading) await (await loading).close?.();
    },
  };
}
