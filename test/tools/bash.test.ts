import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { noSandbox } from '../../src/sandbox/types.ts';
import { createBashTool } from '../../src/tools/bash.ts';
import { type Fixture, makeFixture, run } from './helpers.ts';

let fx: Fixture;
let bash: ReturnType<typeof createBashTool>;
beforeEach(async () => {
  fx = await makeFixture({ TOOL_OUTPUT_LIMIT: '4000' });
  bash = createBashTool({ config: fx.config, sandbox: noSandbox });
});
afterEach(() => fx.cleanup());

describe('bash tool', () => {
  it('runs in the workspace with the child env and reports the exit code', async () => {
    const r = await run(
      bash,
      { command: 'pwd; echo "$HOME"; printenv ANTHROPIC_API_KEY || echo none' },
      fx.ctx,
    );
    expect(r.isError).toBe(false);
    expect(r.output).toBe(`${fx.workspace}\n${fx.ctx.env.HOME}\nnone\n[exit code 0]`);
    expect(fx.output.map((o) => o.chunk).join('')).toContain(fx.workspace);
  });

  it('marks non-zero exits as errors', async () => {
    const r = await run(bash, { command: 'echo oops >&2; exit 7' }, fx.ctx);
    expect(r.isError).toBe(true);
    expect(r.output).toBe('oops\n[exit code 7]');
    expect(fx.output).toContainEqual({ stream: 'stderr', chunk: 'oops\n' });
  });

  it('resolves cwd with the path guard', async () => {
    await fsp.mkdir(path.join(fx.workspace, 'sub'));
    expect((await run(bash, { command: 'pwd', cwd: 'sub' }, fx.ctx)).output).toBe(
      `${path.join(fx.workspace, 'sub')}\n[exit code 0]`,
    );
    await expect(run(bash, { command: 'pwd', cwd: '..' }, fx.ctx)).rejects.toMatchObject({
      code: 'path_outside_workspace',
    });
    await expect(run(bash, { command: 'pwd', cwd: '/etc' }, fx.ctx)).rejects.toMatchObject({
      code: 'path_outside_workspace',
    });
  });

  it('times out and caps output', async () => {
    const t = await run(bash, { command: 'echo start; sleep 30', timeout: 300 }, fx.ctx);
    expect(t.isError).toBe(true);
    expect(t.output).toBe('start\n[timed out after 300 ms]');
    const big = await run(bash, { command: 'seq 1 100000' }, fx.ctx);
    expect(big.output.length).toBeLessThan(4200);
    expect(big.output).toMatch(/truncated \d+ bytes/);
    expect(big.output.endsWith('100000\n[exit code 0]')).toBe(true);
  });

  it('is killed by the run signal', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const r = await run(bash, { command: 'sleep 30' }, { ...fx.ctx, signal: ac.signal });
    expect(r.isError).toBe(true);
    expect(r.output).toBe('[killed]');
  });

  it('bounds the input', () => {
    expect(() => bash.input.parse({ command: '' })).toThrow();
    expect(() => bash.input.parse({ command: 'x', timeout: 3_600_001 })).toThrow();
  });
});
