// The dashboard's sources (ui/src/, bundled for the browser by src/server/ui-build.ts) may import
// only themselves, the few browser libraries it is built on, and — as types only, erased by the
// build — the wire schemas of src/protocol/. Nothing of the server can end up in the bundle, and
// the bundle cannot grow a dependency without this list changing.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAst } from 'vitest/node';
import { REPO_ROOT } from './source.ts';

const UI_SRC = path.join(REPO_ROOT, 'ui', 'src');
const PACKAGES = ['preact', 'preact/hooks', 'marked', 'dompurify', 'diff'];
const PROTOCOL = path.join(REPO_ROOT, 'src', 'protocol') + path.sep;

interface Ref {
  file: string;
  specifier: string;
  typeOnly: boolean;
}

function uiFiles(dir = UI_SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return uiFiles(p);
    return /\.(ts|tsx)$/.test(e.name) ? [p] : [];
  });
}

type AstNode = {
  type: string;
  importKind?: string;
  exportKind?: string;
  source?: { value?: unknown } | null;
  specifiers?: Array<{ importKind?: string }>;
};

function refsOf(file: string, text: string): Ref[] {
  const ast = parseAst(text, { lang: file.endsWith('.tsx') ? 'tsx' : 'ts' }, file) as unknown as {
    body: AstNode[];
  };
  const refs: Ref[] = [];
  for (const n of ast.body) {
    const spec = n.source?.value;
    if (typeof spec !== 'string') continue;
    if (n.type === 'ImportDeclaration') {
      const allTypes =
        (n.specifiers ?? []).length > 0 && (n.specifiers ?? []).every((s) => s.importKind === 'type');
      refs.push({ file, specifier: spec, typeOnly: n.importKind === 'type' || allTypes });
    } else if (n.type === 'ExportNamedDeclaration' || n.type === 'ExportAllDeclaration') {
      refs.push({ file, specifier: spec, typeOnly: n.exportKind === 'type' });
    }
  }
  // Dynamic imports would escape the list above: there are none.
  if (/\bimport\s*\(/.test(text)) refs.push({ file, specifier: '<dynamic import>', typeOnly: false });
  return refs;
}

function uiViolations(refs: Ref[]): string[] {
  const out: string[] = [];
  for (const r of refs) {
    const where = path.relative(REPO_ROOT, r.file);
    if (!r.specifier.startsWith('.')) {
      if (!PACKAGES.includes(r.specifier))
        out.push(`${where}: package ${r.specifier} is not one the dashboard uses`);
      continue;
    }
    const target = path.resolve(path.dirname(r.file), r.specifier);
    if (target.startsWith(UI_SRC + path.sep) || target === UI_SRC) continue;
    if (target.startsWith(PROTOCOL) && r.typeOnly) continue;
    out.push(
      `${where}: ${r.specifier} is outside ui/src${target.startsWith(PROTOCOL) ? ' (src/protocol may be imported as types only)' : ''}`,
    );
  }
  return out;
}

describe('dashboard sources', () => {
  it('the checker catches server code, value imports of the protocol and unknown packages', () => {
    const f = path.join(UI_SRC, 'views', 'x.tsx');
    const refs = refsOf(
      f,
      [
        "import { Event } from '../../../src/protocol/index.ts';",
        "import type { Session } from '../../../src/protocol/index.ts';",
        "import { Store } from '../../../src/store/types.ts';",
        "import { z } from 'zod';",
        "import { useState } from 'preact/hooks';",
        "import { live } from '../live.ts';",
        "const m = await import('./lazy.ts');",
      ].join('\n'),
    );
    expect(uiViolations(refs)).toEqual([
      'ui/src/views/x.tsx: ../../../src/protocol/index.ts is outside ui/src (src/protocol may be imported as types only)',
      'ui/src/views/x.tsx: ../../../src/store/types.ts is outside ui/src',
      'ui/src/views/x.tsx: package zod is not one the dashboard uses',
      'ui/src/views/x.tsx: package <dynamic import> is not one the dashboard uses',
    ]);
  });

  it('import only ui/src, the listed packages and protocol types', () => {
    const files = uiFiles();
    expect(files.length).toBeGreaterThan(10);
    const refs = files.flatMap((f) => refsOf(f, readFileSync(f, 'utf8')));
    expect(refs.some((r) => r.specifier.includes('src/protocol'))).toBe(true);
    expect(uiViolations(refs)).toEqual([]);
  });
});
