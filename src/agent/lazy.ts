// An engine whose module loads on demand: `warm()` (called once the server listens) loads it in the
// background, so neither the server's start-up nor its first run pays for SDKs (the Claude Agent
// SDK and the Anthropic SDK together are most of the cold-start import time). A run that comes
// before `warm()` has finished waits for the same load.
import type { EngineName } from '../protocol/index.ts';
import type { Engine, EngineResult, EngineRunContext, SpareRequest, SpareTicket } from './engine.ts';

export interface LazyEngine extends Engine {
  /** The engine once loaded (undefined before). */
  readonly loaded: Engine | undefined;
  /** Loads the module only (what `warm()` does first, without starting anything). */
  load(): Promise<void>;
}

export function lazyEngine(name: EngineName, load: () => Promise<Engine>): LazyEngine {
  let loading: Promise<Engine> | undefined;
  let loaded: Engine | undefined;
  const get = () => {
    loading ??= load().then(
      (e) => {
        loaded = e;
        return e;
      },
      (err) => {
        loading = undefined; // a failed load may succeed on the next run
        throw err;
      },
    );
    return loading;
  };
  return {
    name,
    get loaded() {
      return loaded;
    },
    load: async () => {
      await get();
    },
    run: async (ctx: EngineRunContext): Promise<EngineResult> => (await get()).run(ctx),
    // Only a loaded engine has spares to give (it started them in warm()).
    takeSpare: (req: SpareRequest): SpareTicket | undefined => loaded?.takeSpare?.(req),
    warm: async () => {
      await (await get()).warm?.();
    },
    close: async () => {
      if (loading) await (await loading.catch(() => undefined))?.close?.();
    },
  };
}
