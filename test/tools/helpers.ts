// Shared fixtures for tool tests: a real temp workspace, config and a ToolContext.
import { promises as fsp, mkdtempSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Config, loadConfig } from '../../src/config.ts';
import { buildChildEnv } from '../../src/sandbox/child-env.ts';
import { WorkspaceManager } from '../../src/sandbox/workspace/manager.ts';
import type { Tool, ToolContext, ToolResult } from '../../src/tools/types.ts';

export interface Fixture {
  tmp: string;
  config: Config;
  workspace: string;
  ctx: ToolContext;
  output: Array<{ stream: string; chunk: string }>;
  cleanup(): Promise<void>;
}

export async function makeFixture(env: Record<string, string> = {}): Promise<Fixture> {
  const tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'tools-test-')));
  const config = loadConfig({ DATA_DIR: tmp, ALLOW_FILE_REPOS: 'true', SANDBOX: 'none', ...env });
  const wm = new WorkspaceManager(config.dataDir);
  const workspace = await wm.ensure('s1');
  const home = await wm.homeFor('s1');
  const output: Array<{ stream: string; chunk: string }> = [];
  const ctx: ToolContext = {
    workspace,
    runId: 'r1',
    sessionId: 's1',
    signal: new AbortController().signal,
    onOutput: (stream, chunk) => output.push({ stream, chunk }),
    env: buildChildEnv(config, { home, workspace }),
  };
  return {
    tmp,
    config,
    workspace,
    ctx,
    output,
    cleanup: () => fsp.rm(tmp, { recursive: true, force: true }),
  };
}

/** Validates like the engine does, then runs the tool. */
export async function run<I>(tool: Tool<I>, input: unknown, ctx: ToolContext): Promise<ToolResult> {
  return tool.execute(tool.input.parse(input), ctx);
}
