// The `bash` tool (docs/api.md §9): `bash -c <command>` in the workspace, via the process runner
// (sandbox wrapper, own process group, timeout, abort, capped and streamed output).
import { promises as fsp } from 'node:fs';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { runProcess } from '../sandbox/process-runner.ts';
import type { SandboxWrapper } from '../sandbox/types.ts';
import { resolveInWorkspace } from '../sandbox/workspace/path-guard.ts';
import { commandShims, withShimPath } from './command-shims.ts';
import { type Tool, type ToolContext, ToolError, type ToolResult } from './types.ts';

const MAX_TIMEOUT_MS = 3_600_000;

export const bashInput = z.object({
  command: z.string().min(1).max(100_000).describe('The command line, run with bash -c'),
  cwd: z
    .string()
    .max(4096)
    .optional()
    .describe('Working directory, relative to the workspace (default: its root)'),
  timeout: z
    .number()
    .int()
    .min(1)
    .max(MAX_TIMEOUT_MS)
    .optional()
    .describe('Timeout in milliseconds (default 300000, max 3600000)'),
});
export type BashInput = z.infer<typeof bashInput>;

export function createBashTool(deps: { config: Config; sandbox: SandboxWrapper }): Tool<BashInput> {
  const { config, sandbox } = deps;
  return {
    name: 'bash',
    description:
      'Run a shell command with bash -c in the workspace. Output (stdout and stderr) is streamed and capped; ' +
      'the exit code is reported. No stdin and no TTY; background processes are killed when the command ends. ' +
      'Commands have no network (and no GitHub credentials): push, pull and clone with the git tool, and use ' +
      'the gh tool for pull requests — not `git push` or `gh` here.',
    input: bashInput,
    async execute(input: BashInput, ctx: ToolContext): Promise<ToolResult> {
      const cwd = await resolveInWorkspace(ctx.workspace, input.cwd ?? '.');
      if (!(await fsp.stat(cwd)).isDirectory()) {
        throw new ToolError('invalid_input', `cwd "${input.cwd}" is not a directory`);
      }
      const timeoutMs = Math.min(input.timeout ?? config.bashTimeoutMs, MAX_TIMEOUT_MS);
      const res = await runProcess(
        {
          command: 'bash',
          args: ['-c', input.command],
          cwd,
          workspace: ctx.workspace,
          // `git push`/`gh` in the shell point the model at the git and gh tools (command-shims.ts).
          env: { ...ctx.env, PATH: withShimPath(ctx.env.PATH) },
          files: commandShims('native'),
        },
        {
          sandbox,
          timeoutMs,
          signal: ctx.signal,
          onOutput: ctx.onOutput,
          outputLimit: config.toolOutputLimit,
        },
      );
      const lines = [res.output.replace(/\n$/, '')];
      if (res.spawnError !== undefined) lines.push('[could not start bash]');
      else if (res.timedOut) lines.push(`[timed out after ${timeoutMs} ms]`);
      else if (res.aborted) lines.push('[killed]');
      else if (res.exitCode === null) lines.push(`[killed by ${res.signal ?? 'a signal'}]`);
      else lines.push(`[exit code ${res.exitCode}]`);
      const isError = res.exitCode !== 0 || res.timedOut || res.aborted;
      return { output: lines.join('\n').replace(/^\n/, ''), isError };
    },
  };
}
