// The layering of src/ (AGENTS.md), checked on every import, re-export, dynamic import, `import()`
// type and `new URL('…', import.meta.url)` of every file: a part imports only itself and the
// parts below it. The checker is tested on small made-up trees first, so it cannot pass by
// finding nothing.
import { describe, expect, it } from 'vitest';
import { layeringViolations, unitOf } from './layers.ts';
import { moduleRefs, type SourceFile, sourceFiles } from './source.ts';

const tree = (files: Record<string, string>): SourceFile[] =>
  Object.entries(files).map(([rel, text]) => ({ rel, text }));
const check = (files: Record<string, string>) => layeringViolations(tree(files), moduleRefs);

describe('the layering checker', () => {
  it('accepts imports downwards and within a part', () => {
    expect(
      check({
        'server/app.ts': "import { x } from '../runs/sessions.ts';\nimport { y } from './deps.ts';",
        'runs/sessions.ts':
          "import type { S } from '../store/types.ts';\nexport * from '../protocol/index.ts';",
        'store/types.ts': "import { ConfigError } from '../config.ts';",
        'config.ts': "import { parse } from './net/allow-hosts.ts';",
        'runtime.ts': "import { c } from './client/index.ts';\nnew URL('../package.json', import.meta.url);",
        'client/index.ts':
          "import { sign } from '../security/signing.ts';\nimport type { W } from '../protocol/ws.ts';",
      }),
    ).toEqual([]);
  });

  it('names the file, the line and the forbidden import, for every way of importing', () => {
    const v = check({
      'observability/audit.ts': "// header\nimport type { Tool } from '../tools/types.ts';",
      'store/index.ts': "export { x } from '../runs/x.ts';",
      'sandbox/a.ts': "const m = await import('../agent/engine.ts');",
      'tools/b.ts': "type E = import('../server/deps.ts').ServerDeps;",
      'net/c.ts': "const w = new URL('../sandbox/worker.ts', import.meta.url);",
      'protocol/d.ts': "import { ConfigError } from '../config.ts';",
      'client/e.ts': "import { Store } from '../store/types.ts';",
      'mock-llm/f.ts': "import { signRequest } from '../security/signing.ts';",
      'agent/g.ts': "import { startMockLlm } from '../mock-llm/index.ts';",
      'runs/h.ts': "import { VERSION } from '../runtime.ts';",
      'security/i.ts': "import x from '../../test/helpers/server.ts';",
      'tools/j.ts': 'const name = "./x.ts"; await import(name);',
    });
    expect(v.map((x) => x.message)).toEqual([
      "src/observability/audit.ts:2 must not import src/tools/types.ts (import '../tools/types.ts'): src/observability/ may import only itself and store/, config.ts, errors.ts, ids.ts, clock.ts, config/, net/, protocol/",
      "src/store/index.ts:1 must not import src/runs/x.ts (export from '../runs/x.ts'): src/store/ may import only itself and config.ts, errors.ts, ids.ts, clock.ts, config/, net/, protocol/",
      "src/sandbox/a.ts:1 must not import src/agent/engine.ts (dynamic import '../agent/engine.ts'): src/sandbox/ may import only itself and security/, observability/, store/, config.ts, errors.ts, ids.ts, clock.ts, config/, net/, protocol/",
      "src/tools/b.ts:1 must not import src/server/deps.ts (type import '../server/deps.ts'): src/tools/ may import only itself and sandbox/, security/, observability/, store/, config.ts, errors.ts, ids.ts, clock.ts, config/, net/, protocol/",
      "src/net/c.ts:1 must not import src/sandbox/worker.ts (import.meta URL '../sandbox/worker.ts'): src/net/ may import only itself and nothing outside itself (a leaf)",
      "src/protocol/d.ts:1 must not import src/config.ts (import '../config.ts'): src/protocol/ may import only itself and nothing outside itself (a leaf)",
      "src/client/e.ts:1 must not import src/store/types.ts (import '../store/types.ts'): src/client/ may import only itself and security/signing.ts, protocol/",
      "src/mock-llm/f.ts:1 must not import src/security/signing.ts (import '../security/signing.ts'): src/mock-llm/ may import only itself and nothing outside itself",
      "src/agent/g.ts:1 must not import src/mock-llm/index.ts (import '../mock-llm/index.ts'): src/agent/ may import only itself and tools/, sandbox/, security/, observability/, store/, config.ts, errors.ts, ids.ts, clock.ts, config/, net/, protocol/",
      "src/runs/h.ts:1 must not import src/runtime.ts (import '../runtime.ts'): src/runs/ may import only itself and agent/, tools/, sandbox/, security/, observability/, store/, config.ts, errors.ts, ids.ts, clock.ts, config/, net/, protocol/",
      "src/security/i.ts:1 must not import test/helpers/server.ts (import '../../test/helpers/server.ts'): src/security/ may import only itself and observability/, store/, config.ts, errors.ts, ids.ts, clock.ts, config/, net/, protocol/",
      'src/tools/j.ts:1 has a dynamic import with a computed path: use a string literal so the layering can be checked',
    ]);
  });

  it('does not mistake strings and comments for imports', () => {
    expect(
      check({
        'store/a.ts':
          "// import { x } from '../runs/x.ts';\nconst src = `import('../server/app.ts')`;\nconst s = \"export * from '../agent/engine.ts'\";",
      }),
    ).toEqual([]);
  });

  it('refuses a file in a folder that belongs to no layer', () => {
    expect(check({ 'utils/x.ts': '' }).map((x) => x.message)).toEqual([
      'src/utils/x.ts belongs to no layer: add its folder to LAYERS in test/architecture/layers.ts and to AGENTS.md',
    ]);
  });
});

describe('src/', () => {
  const files = sourceFiles();

  it('is read whole (the checker sees every part)', () => {
    const units = new Set(files.map((f) => unitOf(f.rel)));
    for (const u of ['root', 'server/', 'runs/', 'agent/', 'tools/', 'sandbox/', 'store/', 'protocol/'])
      expect(units).toContain(u);
    expect(files.length).toBeGreaterThan(100);
  });

  it('imports only downwards', () => {
    const violations = layeringViolations(files, moduleRefs).map((v) => v.message);
    expect(violations, `layering broken (see AGENTS.md):\n${violations.join('\n')}`).toEqual([]);
  });
});
