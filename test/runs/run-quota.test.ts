// RunQuota: a run's disk-quota watch pauses only while the run is parked at an approval with no
// tool executing (and only for engines whose processes are all tool calls), and comes back as soon
// as a tool executes — an agent cannot park its run to write past the quota unwatched.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RunQuota } from '../../src/runs/run-quota.ts';
import type { Tool, ToolContext } from '../../src/tools/types.ts';

function counted(pausable: boolean) {
  const log: string[] = [];
  const quota = new RunQuota(
    () => {
      log.push('start');
      return () => log.push('stop');
    },
    { pausable },
  );
  return { quota, log };
}

function slowTool(): Tool<{ x?: number }> & { finish: () => void } {
  let finish = () => {};
  return {
    name: 'bash',
    description: 'd',
    input: z.object({ x: z.number().optional() }),
    execute: () =>
      new Promise((r) => {
        finish = () => r({ output: 'ok', isError: false });
      }),
    finish: () => finish(),
  };
}

const ctx = {} as ToolContext;

describe('RunQuota', () => {
  it('pauses while parked with nothing executing, resumes when the run goes on, stops at close', () => {
    const { quota, log } = counted(true);
    quota.start();
    expect(quota.watching).toBe(true);
    quota.park();
    expect(quota.watching).toBe(false);
    quota.unpark();
    expect(quota.watching).toBe(true);
    quota.close();
    expect(log).toEqual(['start', 'stop', 'start', 'stop']);
    quota.unpark();
    expect(quota.watching).toBe(false);
  });

  it('keeps watching while a tool executes, and pauses when the last one ends', async () => {
    const { quota } = counted(true);
    quota.start();
    const tool = slowTool();
    const wrapped = quota.wrap(tool);
    const running = wrapped.execute({}, ctx);
    quota.park(); // a sibling call waits for approval while this one writes
    expect(quota.watching).toBe(true);
    tool.finish();
    expect(await running).toEqual({ output: 'ok', isError: false });
    expect(quota.watching).toBe(false);
    // an allowed call runs while another still waits: watched again
    const again = wrapped.execute({}, ctx);
    expect(quota.watching).toBe(true);
    tool.finish();
    await again;
    expect(quota.watching).toBe(false);
  });

  it('never pauses for an engine that runs processes the server cannot count', () => {
    const { quota, log } = counted(false);
    quota.start();
    quota.park();
    expect(quota.watching).toBe(true);
    expect(log).toEqual(['start']);
  });
});
