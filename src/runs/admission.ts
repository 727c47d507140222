// Memory-aware admission (docs/api.md §10): the scheduler claims a run only while the memory
// available to this process, minus a reserve, covers what a run of that engine is expected to
// take (a `claude-code` run starts a CLI of ~240 MB; a `native` one is small). Work that does not
// fit stays queued — another instance, or this one later, takes it — instead of the machine
// swapping or the OOM killer picking a victim.
//
// A run just started has not grown to its size yet, so what the probe reports does not show it:
// each claimed run reserves its estimate for a warm-up period (or until it ends), and the
// reservations are subtracted from what the probe says is available.
import type { Clock } from '../clock.ts';
import type { AdmissionConfig } from '../config.ts';
import type { EngineName } from '../protocol/index.ts';

/** Bytes of memory this process can still use (cgroup limits included). */
export type MemoryProbe = () => number;

/** Node's view: the smaller of the system's available memory and the cgroup's limit (v1 and v2). */
export const processMemoryProbe: MemoryProbe = () => process.availableMemory();

/** How long a claimed run's estimate is held back from what the probe reports. */
export const WARMUP_MS = 15_000;

/**
 * How long one probe reading serves. Node's probe reads six cgroup and /proc files; a burst asked it
 * twice per claim (≈ 0.15 ms each, 35 ms of a 200-message burst). A run claimed since the reading
 * is in the reservations, so a reading this young misses no run of ours.
 */
export const PROBE_TTL_MS = 100;

export interface AdmissionStatus {
  availableBytes: number;
  reservedBytes: number;
  reserveBytes: number;
  estimateBytes: Record<EngineName, number>;
  /** Engines whose next run fits now. */
  admits: EngineName[];
}

export class MemoryAdmission {
  private config: AdmissionConfig;
  private probe: MemoryProbe;
  private clock: Clock;
  private reservations = new Map<string, { bytes: number; until: number }>();
  private reading: { bytes: number; at: number } | undefined;

  constructor(o: { config: AdmissionConfig; probe?: MemoryProbe; clock: Clock }) {
    this.config = o.config;
    this.probe = o.probe ?? processMemoryProbe;
    this.clock = o.clock;
  }

  private reserved(): number {
    const now = this.clock.now();
    let sum = 0;
    for (const [id, r] of this.reservations) {
      if (r.until <= now) this.reservations.delete(id);
      else sum += r.bytes;
    }
    return sum;
  }

  private available(): number {
    const now = this.clock.now();
    const r = this.reading;
    if (r && now >= r.at && now - r.at < PROBE_TTL_MS) return r.bytes;
    const bytes = this.probe();
    this.reading = { bytes, at: now };
    return bytes;
  }

  status(): AdmissionStatus {
    const availableBytes = this.available();
    const reservedBytes = this.reserved();
    const room = availableBytes - reservedBytes - this.config.reserveBytes;
    const estimateBytes = this.config.estimateBytes;
    const admits = (Object.keys(estimateBytes) as EngineName[]).filter((e) => estimateBytes[e] <= room);
    return { availableBytes, reservedBytes, reserveBytes: this.config.reserveBytes, estimateBytes, admits };
  }

  /** The engines a claim may take now: undefined = any, [] = none (memory holds the queue). */
  admit(): EngineName[] | undefined {
    const { admits } = this.status();
    return admits.length === Object.keys(this.config.estimateBytes).length ? undefined : admits;
  }

  /**
   * A run was claimed: hold back the estimate of the largest engine it may be on (the claim does
   * not say which; `started` narrows it).
   */
  claimed(runId: string, engines: EngineName[] | undefined): void {
    const est = this.config.estimateBytes;
    const bytes = Math.max(...(engines ?? (Object.keys(est) as EngineName[])).map((e) => est[e]));
    this.reservations.set(runId, { bytes, until: this.clock.now() + WARMUP_MS });
  }

  /**
   * The run's engine is known: hold back that engine's estimate (for the rest of the warm-up).
   * True when that freed memory (a run held back may fit now).
   */
  started(runId: string, engine: EngineName): boolean {
    const r = this.reservations.get(runId);
    const bytes = this.config.estimateBytes[engine];
    if (!r || bytes >= r.bytes) return false;
    r.bytes = bytes;
    return true;
  }

  ended(runId: string): void {
    this.reservations.delete(runId);
  }
}
