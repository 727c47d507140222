// Codebase rules a reviewer would otherwise have to remember (AGENTS.md):
// - the process environment is read in src/config.ts only;
// - the README's configuration table lists exactly the variables src/config.ts reads;
// - no `any` in src/ (biome's noExplicitAny, never switched off) and no type-check suppressions.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { envNamesRead, envReads, REPO_ROOT, type SourceFile, sourceFiles } from './source.ts';

/**
 * Files that may touch `process.env` besides src/config.ts, and why.
 * mock-llm/ is a test and demo tool, not part of the server: its git fixtures pass the caller's
 * environment on to `git`, they read no setting. cli/env.ts is the `agent-server` client, not the
 * server: it reads its own two variables (AGENT_SERVER_URL, AGENT_SERVER_KEY, docs/api.md §12).
 */
const ENV_EXEMPT = (rel: string) =>
  rel === 'config.ts' || rel.startsWith('mock-llm/') || rel === 'cli/env.ts';

/** Backticked UPPER_CASE names in the first column of the README's `## Configuration` table. */
function readmeConfigNames(readme: string): Set<string> {
  const start = readme.indexOf('\n## Configuration');
  if (start < 0) throw new Error('README.md has no "## Configuration" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const names = new Set<string>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('|')) continue;
    const firstCell = line.split('|')[1] ?? '';
    for (const m of firstCell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(m[1]!);
  }
  return names;
}

describe('the process environment', () => {
  const files = sourceFiles();

  it('is read in src/config.ts only', () => {
    const offenders = files
      .filter((f) => !ENV_EXEMPT(f.rel))
      .flatMap((f) => envReads(f).map((line) => `src/${f.rel}:${line}`));
    expect(
      offenders,
      `read settings in src/config.ts (a Config field) and pass the value down:\n${offenders.join('\n')}`,
    ).toEqual([]);
  });

  it('the check finds process.env, process["env"] and node:process imports, not strings', () => {
    const f = (text: string): SourceFile => ({ rel: 'x.ts', text });
    expect(envReads(f("const a = process.env.X;\nconst b = process['env'];"))).toEqual([1, 2]);
    expect(envReads(f("import { env } from 'node:process';"))).toEqual([1]);
    expect(envReads(f('const s = "process.env.X"; // process.env.Y'))).toEqual([]);
  });

  it('the README configuration table lists exactly what src/config.ts reads', () => {
    // config.ts and its parts in config/ (they read the `env` config.ts hands them).
    const parts = sourceFiles().filter((f) => f.rel === 'config.ts' || f.rel.startsWith('config/'));
    const read = new Set(parts.flatMap((f) => [...envNamesRead(f)]));
    const documented = readmeConfigNames(readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8'));
    expect(read.size).toBeGreaterThan(50);
    const undocumented = [...read].filter((n) => !documented.has(n)).sort();
    const unread = [...documented].filter((n) => !read.has(n)).sort();
    expect(undocumented, 'read in src/config.ts but missing from the README configuration table').toEqual([]);
    expect(unread, 'in the README configuration table but never read by src/config.ts').toEqual([]);
  });

  it('the name extraction sees helper calls and env.NAME, not other strings', () => {
    const f: SourceFile = {
      rel: 'config.ts',
      text: "int(env, 'PORT', 3);\nopt(env, 'HOST') ?? 'LOCAL';\nenv.PATH;\nenv['X_Y'];\nthrow new ConfigError('NOT_A_READ');",
    };
    expect([...envNamesRead(f)].sort()).toEqual(['HOST', 'PATH', 'PORT', 'X_Y']);
    expect(
      readmeConfigNames(
        '# x\n## Configuration\n| a | b |\n|---|---|\n| `A_B`, `C` | `NOT_ME` |\n## Next\n| `D` |',
      ),
    ).toEqual(new Set(['A_B', 'C']));
  });
});

describe('types', () => {
  it('biome forbids explicit any in src/, and the type checker is strict', () => {
    const biome = JSON.parse(readFileSync(path.join(REPO_ROOT, 'biome.json'), 'utf8')) as {
      files: { includes: string[] };
      linter: { rules: { suspicious?: { noExplicitAny?: string } } };
    };
    expect(biome.linter.rules.suspicious?.noExplicitAny).toBe('error');
    expect(biome.files.includes).toContain('src/**');
    const tsconfig = JSON.parse(readFileSync(path.join(REPO_ROOT, 'tsconfig.json'), 'utf8')) as {
      compilerOptions: { strict?: boolean };
    };
    expect(tsconfig.compilerOptions.strict).toBe(true);
  });

  it('nothing in src/ switches a check off (noExplicitAny suppressions, @ts-ignore, @ts-nocheck, @ts-expect-error)', () => {
    const pattern = /biome-ignore[^\n]*noExplicitAny|@ts-(ignore|nocheck|expect-error)/;
    const offenders = sourceFiles()
      .flatMap((f) => f.text.split('\n').map((l, i) => ({ f, l, i })))
      .filter(({ l }) => pattern.test(l))
      .map(({ f, i, l }) => `src/${f.rel}:${i + 1}: ${l.trim()}`);
    expect(offenders).toEqual([]);
  });
});
