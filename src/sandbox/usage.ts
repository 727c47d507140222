// What a run's sandboxed processes used, from their cgroups (src/sandbox/bwrap/cgroup-usage.ts):
// each process tree's figures are added to its workspace's tally when it exits, and the executor
// takes the tally when the run ends (a session runs one run at a time, so a workspace's tally is
// its run's). Figures a kernel does not give (CPU under cgroup v1, anything without a usable
// cgroup) stay absent, never zero.

export interface SandboxUsage {
  /** CPU seconds of all the run's process trees (cgroup v2 `cpu.stat` usage_usec). */
  cpuS?: number;
  /** The largest peak memory of one process tree (v2 `memory.peak`, v1 `memory.max_usage_in_bytes`). */
  peakMemoryBytes?: number;
}

/** Tallies kept at once; beyond, the oldest is dropped (a workspace whose tally nobody takes). */
const MAX_TALLIES = 10_000;

export class SandboxUsageMeter {
  private readonly tallies = new Map<string, SandboxUsage>();

  record(workspace: string, u: SandboxUsage): void {
    if (u.cpuS === undefined && u.peakMemoryBytes === undefined) return;
    const t = this.tallies.get(workspace) ?? {};
    if (u.cpuS !== undefined) t.cpuS = (t.cpuS ?? 0) + u.cpuS;
    if (u.peakMemoryBytes !== undefined)
      t.peakMemoryBytes = Math.max(t.peakMemoryBytes ?? 0, u.peakMemoryBytes);
    this.tallies.delete(workspace); // re-insert: newest last
    this.tallies.set(workspace, t);
    if (this.tallies.size > MAX_TALLIES) {
      const oldest = this.tallies.keys().next().value;
      if (oldest !== undefined) this.tallies.delete(oldest);
    }
  }

  /** The workspace's tally since the last take (undefined when nothing was measured). */
  take(workspace: string): SandboxUsage | undefined {
    const t = this.tallies.get(workspace);
    this.tallies.delete(workspace);
    return t;
  }
}
