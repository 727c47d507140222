// Reads the project's TypeScript sources as syntax trees (the parser vitest itself uses, so strings
// and comments never look like imports) and extracts what the architecture tests check: every
// module a file refers to, and every read of the process environment.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAst } from 'vitest/node';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
export const SRC = path.join(REPO_ROOT, 'src');

export interface SourceFile {
  /** Path relative to src/, with `/` separators (e.g. `runs/executor.ts`). */
  rel: string;
  text: string;
}

/** A module reference: `import … from`, `export … from`, `import()`, `import('…').T`, `new URL('…', import.meta.url)`. */
export interface ModuleRef {
  specifier: string;
  line: number;
  /** How the file refers to it (for messages). */
  kind: 'import' | 'export from' | 'dynamic import' | 'type import' | 'import.meta URL';
}

/** Every `.ts` file under src/, sorted. */
export function sourceFiles(root = SRC): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts'))
        out.push({ rel: path.relative(root, p).split(path.sep).join('/'), text: readFileSync(p, 'utf8') });
    }
  };
  walk(root);
  return out.sort((a, b) => a.rel.localeCompare(b.rel));
}

interface Node {
  type: string;
  start: number;
  [key: string]: unknown;
}

const isNode = (v: unknown): v is Node =>
  typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string';

/** Calls `visit` on every node of the tree, depth first. */
function walkTree(root: unknown, visit: (n: Node) => void): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      stack.push(...v);
      continue;
    }
    if (!isNode(v)) continue;
    visit(v);
    for (const [k, child] of Object.entries(v))
      if (k !== 'parent' && typeof child === 'object') stack.push(child);
  }
}

const lineOf = (text: string, offset: number) => text.slice(0, offset).split('\n').length;

function literal(n: unknown): string | undefined {
  return isNode(n) && n.type === 'Literal' && typeof n.value === 'string' ? n.value : undefined;
}

/** `import.meta.<prop>` */
function isImportMeta(n: unknown, prop: string): boolean {
  if (!isNode(n) || n.type !== 'MemberExpression') return false;
  const obj = n.object;
  const p = n.property;
  return isNode(obj) && obj.type === 'MetaProperty' && isNode(p) && p.name === prop;
}

export function parse(file: SourceFile): Node {
  return parseAst(file.text, { lang: 'ts' }, file.rel) as unknown as Node;
}

/**
 * Module references of one file. A dynamic `import()` whose argument is not a string literal is
 * returned with specifier `<computed>`: the rules cannot check it, so they refuse it.
 */
export function moduleRefs(file: SourceFile): ModuleRef[] {
  const refs: ModuleRef[] = [];
  const add = (specifier: string | undefined, n: Node, kind: ModuleRef['kind']) =>
    refs.push({ specifier: specifier ?? '<computed>', line: lineOf(file.text, n.start), kind });
  walkTree(parse(file), (n) => {
    switch (n.type) {
      case 'ImportDeclaration':
        add(literal(n.source), n, 'import');
        break;
      case 'ExportAllDeclaration':
      case 'ExportNamedDeclaration':
        if (n.source) add(literal(n.source), n, 'export from');
        break;
      case 'ImportExpression':
        add(literal(n.source), n, 'dynamic import');
        break;
      case 'TSImportType':
        add(literal(n.source) ?? literal((n.argument as Node | undefined)?.literal), n, 'type import');
        break;
      case 'NewExpression': {
        // new URL('./x.ts', import.meta.url): a file the module loads or reads at run time
        const args = n.arguments as unknown[];
        const callee = n.callee;
        if (isNode(callee) && callee.name === 'URL' && isImportMeta(args[1], 'url')) {
          const s = literal(args[0]);
          if (s === undefined || s.startsWith('.')) add(s, n, 'import.meta URL');
        }
        break;
      }
      case 'CallExpression': {
        if (isImportMeta(n.callee, 'resolve'))
          add(literal((n.arguments as unknown[])[0]), n, 'import.meta URL');
        break;
      }
    }
  });
  return refs.sort((a, b) => a.line - b.line);
}

/** Lines where a file reads the process environment (`process.env`, `import { env } from 'node:process'`). */
export function envReads(file: SourceFile): number[] {
  const lines: number[] = [];
  walkTree(parse(file), (n) => {
    if (n.type === 'MemberExpression') {
      const obj = n.object;
      const prop = n.property;
      const propName = isNode(prop) ? (n.computed ? literal(prop) : prop.name) : undefined;
      const isProcess =
        isNode(obj) &&
        (obj.name === 'process' ||
          (obj.type === 'MemberExpression' && isNode(obj.property) && obj.property.name === 'process'));
      if (isProcess && propName === 'env') lines.push(lineOf(file.text, n.start));
    }
    if (n.type === 'ImportDeclaration' && ['process', 'node:process'].includes(literal(n.source) ?? '')) {
      const specs = n.specifiers as Node[];
      if (specs.some((s) => isNode(s.imported) && (s.imported.name ?? s.imported.value) === 'env'))
        lines.push(lineOf(file.text, n.start));
    }
  });
  return lines.sort((a, b) => a - b);
}

/**
 * Environment variable names src/config.ts reads: string literals passed next to `env` to its
 * helpers (`int(env, 'PORT', …)`), and `env.NAME` / `env['NAME']`.
 */
export function envNamesRead(file: SourceFile): Set<string> {
  const names = new Set<string>();
  const NAME = /^[A-Z][A-Z0-9_]*$/;
  walkTree(parse(file), (n) => {
    if (n.type === 'CallExpression') {
      const [first, ...rest] = n.arguments as unknown[];
      if (isNode(first) && first.name === 'env')
        for (const a of rest) {
          const s = literal(a);
          if (s !== undefined && NAME.test(s)) names.add(s);
        }
    }
    if (n.type === 'MemberExpression' && isNode(n.object) && n.object.name === 'env') {
      const prop = n.property;
      const s = isNode(prop) ? (n.computed ? literal(prop) : (prop.name as string | undefined)) : undefined;
      if (s !== undefined && NAME.test(s)) names.add(s);
    }
  });
  return names;
}
