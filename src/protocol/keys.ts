// The keys of a declaration table as a non-empty tuple of literals, for z.enum.

/**
 * `Object.keys` is typed `string[]` because an object may carry more keys than its type names.
 * The tables passed here are `as const` literals declared in this folder, so their keys are
 * exactly `keyof T`; the cast states that, and the check below keeps the tuple non-empty.
 */
export function literalKeys<T extends Record<string, unknown>>(
  table: T,
): [keyof T & string, ...Array<keyof T & string>] {
  const keys = Object.keys(table) as Array<keyof T & string>;
  const [first, ...rest] = keys;
  if (first === undefined) throw new Error('a declaration table needs at least one entry');
  return [first, ...rest];
}
