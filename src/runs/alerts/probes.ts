// Readings for the periodic alert rules: disk (statfs of DATA_DIR) and memory (the cgroup's limit
// when the server runs in one — a container's limit is what gets it killed — else the machine's).
import fs from 'node:fs/promises';
import os from 'node:os';

export async function diskUsedPercent(dir: string): Promise<number> {
  const s = await fs.statfs(dir);
  if (s.blocks === 0) return 0;
  return 100 * (1 - s.bavail / s.blocks);
}

/** cgroup v2 working set (memory.current minus reclaimable file cache) / memory.max; undefined without a limit. */
async function cgroupPercent(root: string): Promise<number | undefined> {
  try {
    const self = await fs.readFile('/proc/self/cgroup', 'utf8');
    const rel = /^0::(.*)$/m.exec(self)?.[1]?.trim();
    if (rel === undefined) return undefined;
    const dir = `${root}${rel === '/' ? '' : rel}`;
    const max = (await fs.readFile(`${dir}/memory.max`, 'utf8')).trim();
    if (max === 'max') return undefined;
    const current = Number((await fs.readFile(`${dir}/memory.current`, 'utf8')).trim());
    const stat = await fs.readFile(`${dir}/memory.stat`, 'utf8');
    const inactiveFile = Number(/^inactive_file (\d+)$/m.exec(stat)?.[1] ?? 0);
    const limit = Number(max);
    if (!Number.isFinite(limit) || limit <= 0 || !Number.isFinite(current)) return undefined;
    return (100 * Math.max(0, current - inactiveFile)) / limit;
  } catch {
    return undefined; // no cgroup v2 (or not readable): the machine's figure
  }
}

export async function memoryUsedPercent(cgroupRoot = '/sys/fs/cgroup'): Promise<number> {
  const inCgroup = await cgroupPercent(cgroupRoot);
  if (inCgroup !== undefined) return inCgroup;
  // os.freemem() is MemAvailable on Linux: memory that can be had without swapping.
  return 100 * (1 - os.freemem() / os.totalmem());
}
