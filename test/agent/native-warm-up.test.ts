// The native engine's warm-up rehearses one streamed turn over loopback (src/agent/native/warm-up.ts):
// through the real SDK and Node's fetch, against a server of its own that is gone afterwards, and
// never with a custom fetch (a test's recorder or a proxy would see a request nobody asked for).
import { describe, expect, it } from 'vitest';
import { createNativeEngine } from '../../src/agent/native/engine.ts';
import { rehearseTurn } from '../../src/agent/native/warm-up.ts';
import { loadConfig } from '../../src/config.ts';

const listeners = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;

/** Handles go a turn or two after their close callbacks: poll briefly (a server left open stays). */
async function settledListeners(want: number): Promise<number> {
  for (let i = 0; i < 50 && listeners() !== want; i++) await new Promise((r) => setTimeout(r, 10));
  return listeners();
}

describe('native warm-up', () => {
  it('streams a canned turn through the SDK and closes its server', async () => {
    const before = listeners();
    expect(await rehearseTurn()).toBe('ok');
    expect(await settledListeners(before)).toBe(before);
  });

  it('does not send anything through a custom fetch', async () => {
    const calls: string[] = [];
    const config = loadConfig({ ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' });
    const engine = createNativeEngine({
      config,
      fetch: async (input) => {
        calls.push(String(input));
        throw new Error('no network here');
      },
    });
    await engine.warm?.();
    expect(calls).toEqual([]);
  });
});
