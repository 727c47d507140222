// The facts a workflow reports at its end (changed files, commits) come from git run in the agent's
// workspace after the run. A filter driver or diff textconv the agent configured with bash must not
// run then: gitFacts opens the repository through the same config check as the git tool.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitFacts } from '../../src/runs/workflow-results.ts';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { makeSecFixture, type SecFixture } from './helpers.ts';

let fx: SecFixture;
let base = '';
beforeAll(async () => {
  if (!HAS_BWRAP) return;
  fx = await makeSecFixture();
  // What the session clone leaves: a repository at the workspace root, its first commit the base,
  // made (like the real clone) inside the sandbox, as the session's user.
  const made = await fx.bash(
    'git init -q -b main && echo one > a.txt && git add . && git commit -qm base && git rev-parse HEAD',
  );
  base = made.output.split('\n')[0] ?? '';
  if (!/^[0-9a-f]{40}$/.test(base)) throw new Error(`fixture: ${made.output}`);
});
afterAll(() => fx?.cleanup());

const facts = () =>
  gitFacts({
    config: fx.config,
    sandbox: fx.sandbox,
    workspace: fx.workspace,
    env: fx.ctx.env,
    baseSha: base,
  });

describe.skipIf(!HAS_BWRAP)('workflow git facts', () => {
  it('reports the changed files and commits of a clean repository', async () => {
    const r = await fx.bash(
      'echo two > b.txt && git add b.txt && git commit -qm "add b" && echo three >> a.txt && echo done',
    );
    expect(r.output).toContain('done');
    const f = await facts();
    expect(f.changedFiles).toEqual(['a.txt', 'b.txt']);
    expect(f.commits?.map((c) => c.message)).toEqual(['add b']);
  });

  it('never runs a filter driver or textconv the agent configured; the facts are refused', async () => {
    const marks = ['clean', 'smudge', 'process', 'textconv'].map((m) =>
      path.join(fx.workspace, `PWNED-${m}`),
    );
    const [clean, smudge, proc, textconv] = marks as [string, string, string, string];
    mkdirSync(path.join(fx.workspace, 'sub'), { recursive: true });
    const setup = await fx.bash(
      [
        `printf '* filter=evil diff=evil\\n' > .gitattributes`,
        `git config filter.evil.clean 'touch ${clean}; cat'`,
        `git config filter.evil.smudge 'touch ${smudge}; cat'`,
        `git config diff.evil.textconv 'touch ${textconv}; cat'`,
        'echo four >> a.txt',
        'echo configured',
      ].join(' && '),
    );
    expect(setup.output).toContain('configured');
    const outcome = () =>
      facts().then(
        () => 'facts reported',
        (err: { code?: string }) => err.code,
      );
    const first = await outcome();
    // The driver did not run (checked first: on the old code it did, and the facts came back).
    for (const m of marks) expect(existsSync(m), m).toBe(false);
    expect(first).toBe('unsafe_repo_config');
    // A long-running filter process, set instead of clean/smudge.
    const swap = await fx.bash(
      `git config --unset filter.evil.clean && git config --unset filter.evil.smudge && git config filter.evil.process 'touch ${proc}; cat' && echo ok`,
    );
    expect(swap.output).toContain('ok');
    expect(await outcome()).toBe('unsafe_repo_config');
    for (const m of marks) expect(existsSync(m), m).toBe(false);
  });
});
