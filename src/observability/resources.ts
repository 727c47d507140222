// What the process and its disk use, for /api/stats and the agent_data_disk_* / agent_workspace_*
// gauges: CPU (over the last minute), memory, event-loop lag (a histogram reset every minute), the
// DATA_DIR file system (statfs, one syscall, read when asked) and the bytes of all workspaces (a
// walk, so periodic: every `workspaceIntervalMs`, stretched to 10× a slow walk so a huge tree
// cannot keep a core busy).
import fs from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface DiskFigures {
  totalBytes: number;
  freeBytes: number;
  usedBytes: number;
}

export interface ProcessFigures {
  uptimeS: number;
  cpuPercent: number | null;
  cpuSeconds: { user: number; system: number };
  memory: { rssBytes: number; heapUsedBytes: number; heapTotalBytes: number; externalBytes: number };
  eventLoopLagMs: { p50: number; p99: number; max: number };
}

export interface ResourceOptions {
  dataDir: string;
  /** Bytes of every workspace and home (the composition root passes the sandbox's walker). */
  workspaceBytes?: () => Promise<number>;
  workspaceIntervalMs?: number;
  startedAt?: number;
  /** Tick of the CPU and event-loop windows (default one minute). */
  windowMs?: number;
}

const ns = (v: number) => v / 1e6;

export class ResourceMonitor {
  private readonly opts: ResourceOptions;
  private readonly startedAt: number;
  private readonly loop: ReturnType<typeof monitorEventLoopDelay>;
  private lastLoop = { p50: 0, p99: 0, max: 0 };
  private cpuMark = { at: performance.now(), usage: process.cpuUsage() };
  private cpuPercent: number | null = null;
  private workspace: { bytes: number; at: number } | undefined;
  private timers: NodeJS.Timeout[] = [];
  private walkTimer: NodeJS.Timeout | undefined;
  private walking = false;
  private closed = false;

  constructor(opts: ResourceOptions) {
    this.opts = opts;
    this.startedAt = opts.startedAt ?? Date.now();
    this.loop = monitorEventLoopDelay({ resolution: 20 });
  }

  start(): void {
    this.loop.enable();
    const windowMs = this.opts.windowMs ?? 60_000;
    const tick = setInterval(() => this.roll(), windowMs);
    tick.unref();
    this.timers.push(tick);
    if (this.opts.workspaceBytes) void this.walk();
  }

  close(): void {
    this.closed = true;
    this.loop.disable();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    clearTimeout(this.walkTimer);
  }

  /** Closes the CPU and event-loop windows: the figures of the last one are reported until the next. */
  roll(): void {
    const now = performance.now();
    const usage = process.cpuUsage();
    const elapsedUs = (now - this.cpuMark.at) * 1000;
    if (elapsedUs > 0) {
      const used = usage.user - this.cpuMark.usage.user + (usage.system - this.cpuMark.usage.system);
      this.cpuPercent = Math.round((used / elapsedUs) * 1000) / 10;
    }
    this.cpuMark = { at: now, usage };
    this.lastLoop = this.loopFigures();
    this.loop.reset();
  }

  private loopFigures(): { p50: number; p99: number; max: number } {
    if (this.loop.count === 0) return this.lastLoop;
    const r = (v: number) => Math.round(ns(v) * 100) / 100;
    return { p50: r(this.loop.percentile(50)), p99: r(this.loop.percentile(99)), max: r(this.loop.max) };
  }

  process(): ProcessFigures {
    const m = process.memoryUsage();
    const cpu = process.cpuUsage();
    return {
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      cpuPercent: this.cpuPercent,
      cpuSeconds: { user: cpu.user / 1e6, system: cpu.system / 1e6 },
      memory: {
        rssBytes: m.rss,
        heapUsedBytes: m.heapUsed,
        heapTotalBytes: m.heapTotal,
        externalBytes: m.external,
      },
      eventLoopLagMs: this.loop.count > 0 ? this.loopFigures() : this.lastLoop,
    };
  }

  /** The DATA_DIR file system; undefined when it cannot be read. */
  async disk(): Promise<DiskFigures | undefined> {
    try {
      const s = await fs.statfs(this.opts.dataDir);
      const total = s.blocks * s.bsize;
      const free = s.bavail * s.bsize;
      return { totalBytes: total, freeBytes: free, usedBytes: total - s.bfree * s.bsize };
    } catch {
      return undefined;
    }
  }

  /** The last walk's total (undefined before the first one ends). */
  workspaces(): { bytes: number; at: number } | undefined {
    return this.workspace;
  }

  /** One walk now (tests, and the periodic timer). */
  async walk(): Promise<void> {
    const measure = this.opts.workspaceBytes;
    if (!measure || this.walking || this.closed) return;
    this.walking = true;
    const started = performance.now();
    try {
      this.workspace = { bytes: await measure(), at: Date.now() };
    } catch {
      // Keep the last figure; the next walk tries again.
    } finally {
      this.walking = false;
    }
    if (this.closed) return;
    const took = performance.now() - started;
    clearTimeout(this.walkTimer);
    this.walkTimer = setTimeout(
      () => void this.walk(),
      Math.max(this.opts.workspaceIntervalMs ?? 60_000, 10 * took),
    );
    this.walkTimer.unref();
  }
}
