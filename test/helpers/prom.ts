// Reads Prometheus text exposition (what GET /metrics answers) for assertions: every sample by name
// and labels, so a test can compare two scrapes.
export type Samples = Map<string, number>;

/** `name{a="1",b="2"}` with labels sorted, the key of a sample. */
export function key(name: string, labels: Record<string, string> = {}): string {
  const l = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`)
    .join(',');
  return l ? `${name}{${l}}` : name;
}

export function parseProm(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]!] = lm[2]!;
    out.set(key(m[1]!, labels), Number(m[3]));
  }
  return out;
}

/** The change of one sample between two scrapes (a missing sample counts as 0). */
export function delta(
  before: Samples,
  after: Samples,
  name: string,
  labels: Record<string, string> = {},
): number {
  const k = key(name, labels);
  return (after.get(k) ?? 0) - (before.get(k) ?? 0);
}

/** Whether a metric family has at least one sample. */
export function has(s: Samples, name: string): boolean {
  for (const k of s.keys()) if (k === name || k.startsWith(`${name}{`)) return true;
  return false;
}

/** The sum of a metric's samples whose labels include `match` (other labels free). */
export function sumWhere(s: Samples, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const [k, v] of s) {
    if (k !== name && !k.startsWith(`${name}{`)) continue;
    if (Object.entries(match).every(([l, val]) => k.includes(`${l}="${val}"`))) total += v;
  }
  return total;
}
