// Recent observations for GET /api/stats: a bounded ring per series (runs, workflows, tool calls,
// model calls) of timestamped numbers, from which counts, sums and P50/P95/P99 over any window are
// computed when asked. Why a ring and not Prometheus histograms: percentiles from buckets are only
// as good as the bucket edges (a 61 s run in a 60–120 s bucket), and why not the store: tool and
// model calls are not stored, and counting runs there would cost a query over an index per request.
//
// Bounded: each series keeps its newest `capacity` observations (Float64Arrays, allocated once), so
// memory is fixed (~8 bytes × columns × capacity per series) whatever the load. When a window holds
// more observations than the ring, the answer covers the newest `capacity` and says so (`complete:
// false`, `oldestAt`). The figures are this instance's: with several instances, each reports the runs
// it executed and the calls they made (queue depth, read from the store, is global).

/** One series: `columns` numbers per observation plus its time (epoch ms). */
export class ObservationRing {
  readonly capacity: number;
  readonly columns: number;
  private readonly times: Float64Array;
  private readonly data: Float64Array;
  private next = 0;
  private size = 0;
  /** Observations ever pushed (to tell a window the ring no longer covers). */
  private total = 0;

  constructor(capacity: number, columns: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.columns = columns;
    this.times = new Float64Array(this.capacity);
    this.data = new Float64Array(this.capacity * columns);
  }

  push(at: number, values: readonly number[]): void {
    const i = this.next;
    this.times[i] = at;
    for (let c = 0; c < this.columns; c++) this.data[i * this.columns + c] = values[c] ?? Number.NaN;
    this.next = (i + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
    this.total++;
  }

  /**
   * The observations with `since <= at <= until`, column by column, oldest first, and whether the
   * ring still held everything of the window (false when older observations were overwritten).
   */
  window(
    since: number,
    until: number,
  ): { columns: number[][]; count: number; complete: boolean; oldestAt?: number } {
    const cols: number[][] = Array.from({ length: this.columns }, () => []);
    let count = 0;
    const start = (this.next - this.size + this.capacity) % this.capacity;
    let oldestKept: number | undefined;
    for (let k = 0; k < this.size; k++) {
      const i = (start + k) % this.capacity;
      const at = this.times[i]!;
      if (k === 0) oldestKept = at;
      if (at < since || at > until) continue;
      for (let c = 0; c < this.columns; c++) cols[c]!.push(this.data[i * this.columns + c]!);
      count++;
    }
    // Overwritten observations may have been inside the window when the oldest kept one is too.
    const complete = this.total <= this.capacity || oldestKept === undefined || oldestKept < since;
    return { columns: cols, count, complete, ...(oldestKept !== undefined ? { oldestAt: oldestKept } : {}) };
  }
}

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** Nearest-rank percentiles of the finite values (null when there are none). */
export function percentiles(values: readonly number[]): Percentiles {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const at = (p: number): number | null => {
    if (v.length === 0) return null;
    return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))]!;
  };
  return { p50: at(50), p95: at(95), p99: at(99) };
}

export function sum(values: readonly number[]): number {
  let s = 0;
  for (const x of values) if (Number.isFinite(x)) s += x;
  return s;
}
