// Model pricing (USD per million tokens) and cost computation, shared by both engines.
// Prices are Anthropic's list prices; cache writes (5-minute TTL) cost 1.25× the input price and
// cache reads 0.1× the input price.
import type { Usage } from '../protocol/index.ts';

export interface ModelPrice {
  /** USD per million uncached input tokens. */
  input: number;
  /** USD per million output tokens. */
  output: number;
}

/** Token counts as the Messages API reports them: `inputTokens` excludes cached tokens. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens?: number;
  cacheReadInputTokens?: number;
}

export const CACHE_WRITE_MULTIPLIER = 1.25;
export const CACHE_READ_MULTIPLIER = 0.1;

/**
 * Matched by prefix against the model id (after any provider prefix such as `anthropic.` or
 * `us.anthropic.`); the longest matching prefix wins, so `claude-opus-4-5-20251101` resolves to
 * `claude-opus-4-5`, not `claude-opus-4`.
 */
const PRICES: ReadonlyArray<readonly [prefix: string, price: ModelPrice]> = [
  // Opus (4.5 and later: $5/$25)
  ['claude-opus-4-8', { input: 5, output: 25 }],
  ['claude-opus-4-7', { input: 5, output: 25 }],
  ['claude-opus-4-6', { input: 5, output: 25 }],
  ['claude-opus-4-5', { input: 5, output: 25 }],
  ['claude-opus-4-1', { input: 15, output: 75 }],
  ['claude-opus-4', { input: 15, output: 75 }],
  ['claude-3-opus', { input: 15, output: 75 }],
  // Sonnet
  ['claude-sonnet-4', { input: 3, output: 15 }],
  ['claude-3-7-sonnet', { input: 3, output: 15 }],
  ['claude-3-5-sonnet', { input: 3, output: 15 }],
  // Haiku
  ['claude-haiku-4', { input: 1, output: 5 }],
  ['claude-3-5-haiku', { input: 0.8, output: 4 }],
  ['claude-3-haiku', { input: 0.25, output: 1.25 }],
];

/**
 * Models missing from the table are priced by family name (newer Opus/Sonnet/Haiku releases have
 * kept their family's latest price); anything else (aliases we do not know, proxies' custom
 * names) is charged at Sonnet pricing — an estimate, reported as `known: false`.
 */
export const DEFAULT_PRICE: ModelPrice = { input: 3, output: 15 };
const FAMILY_PRICES: ReadonlyArray<readonly [family: string, price: ModelPrice]> = [
  ['opus', { input: 5, output: 25 }],
  ['sonnet', { input: 3, output: 15 }],
  ['haiku', { input: 1, output: 5 }],
];

export function priceFor(model: string): { price: ModelPrice; known: boolean } {
  const id = normaliseModelId(model);
  let best: readonly [string, ModelPrice] | undefined;
  for (const entry of PRICES) {
    if (id.startsWith(entry[0]) && (!best || entry[0].length > best[0].length)) best = entry;
  }
  if (best) return { price: best[1], known: true };
  const family = FAMILY_PRICES.find(([name]) => id.includes(name));
  return { price: family ? family[1] : DEFAULT_PRICE, known: false };
}

/** USD cost of one or more requests' token usage. */
export function costUsd(model: string, usage: TokenUsage): number {
  const { price } = priceFor(model);
  const perToken = (usdPerMillion: number) => usdPerMillion / 1_000_000;
  const cost =
    usage.inputTokens * perToken(price.input) +
    (usage.cacheCreationInputTokens ?? 0) * perToken(price.input * CACHE_WRITE_MULTIPLIER) +
    (usage.cacheReadInputTokens ?? 0) * perToken(price.input * CACHE_READ_MULTIPLIER) +
    usage.outputTokens * perToken(price.output);
  // Round to a millionth of a dollar so sums stay readable.
  return Math.round(cost * 1e6) / 1e6;
}

/** Token counts as the protocol's Usage: input includes cache writes and reads; cost by `model`'s price. */
export function toUsage(model: string, u: TokenUsage): Usage {
  return {
    inputTokens: u.inputTokens + (u.cacheCreationInputTokens ?? 0) + (u.cacheReadInputTokens ?? 0),
    outputTokens: u.outputTokens,
    costUsd: costUsd(model, u),
  };
}

function normaliseModelId(model: string): string {
  const lower = model.trim().toLowerCase();
  const at = lower.indexOf('claude-');
  return at > 0 ? lower.slice(at) : lower;
}
