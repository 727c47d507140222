// Reading GET /api/stats (docs/api.md §11) by its shape rather than by fixed field names: every
// object with p50/p95/p99 is a row of durations, an `alerts` list (or `alerts.firing`) is the
// alerts, other numbers and strings are figures. New fields show up without a dashboard release.
export type Json = Record<string, unknown>;
export const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export interface PercentileRow {
  label: string;
  count?: number;
  p50: number;
  p95: number;
  p99: number;
}

const isPercentiles = (o: Json) =>
  ['p50', 'p95', 'p99'].every((k) => k in o) || ['p50Ms', 'p95Ms', 'p99Ms'].every((k) => k in o);

/** Rows of durations; a row without a count takes its parent's (`{count, durationMs: {p50…}}`). */
export function percentileRows(
  stats: unknown,
  path: string[] = [],
  out: PercentileRow[] = [],
  parentCount?: number,
): PercentileRow[] {
  if (!isObj(stats)) return out;
  const p50 = num(stats.p50 ?? stats.p50Ms);
  const p95 = num(stats.p95 ?? stats.p95Ms);
  const p99 = num(stats.p99 ?? stats.p99Ms);
  if (p50 !== undefined && p95 !== undefined && p99 !== undefined) {
    const count = num(stats.count) ?? parentCount;
    out.push({ label: path.join(' › ') || 'all', p50, p95, p99, ...(count !== undefined ? { count } : {}) });
    return out;
  }
  for (const [k, v] of Object.entries(stats))
    if (k !== 'alerts') percentileRows(v, [...path, k], out, num(stats.count));
  return out;
}

export interface Alert {
  name: string;
  severity?: string;
  message?: string;
  value?: unknown;
  threshold?: unknown;
  state?: string;
}

export function alertsOf(stats: unknown): Alert[] {
  if (!isObj(stats)) return [];
  const a = stats.alerts;
  const list = Array.isArray(a) ? a : isObj(a) && Array.isArray(a.firing) ? a.firing : [];
  return list.filter(isObj).map((x) => ({
    name: String(x.name ?? 'alert'),
    ...(x.severity !== undefined ? { severity: String(x.severity) } : {}),
    ...(x.message !== undefined ? { message: String(x.message) } : {}),
    value: x.value,
    threshold: x.threshold,
    ...(x.state !== undefined ? { state: String(x.state) } : {}),
  }));
}

/** Scalar figures (numbers, strings) with their dotted path, percentile objects and alerts excluded. */
export function scalarFigures(stats: unknown, path: string[] = [], out: Array<[string, string]> = []) {
  if (!isObj(stats) || path.length > 3) return out;
  if (isPercentiles(stats)) return out;
  for (const [k, v] of Object.entries(stats)) {
    if (k === 'alerts') continue;
    if (typeof v === 'number')
      out.push([[...path, k].join('.'), Number.isInteger(v) ? String(v) : v.toFixed(4)]);
    else if (typeof v === 'string' || typeof v === 'boolean') out.push([[...path, k].join('.'), String(v)]);
    else scalarFigures(v, [...path, k], out);
  }
  return out;
}
