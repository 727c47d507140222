// The layering of src/ (AGENTS.md explains it): a part may import itself and the parts BELOW it,
// never above. Changing this table changes the architecture: say why in the commit.
import path from 'node:path';
import type { ModuleRef, SourceFile } from './source.ts';

/** Top to bottom. Units on one row are the same layer but may not import each other. */
export const LAYERS: readonly (readonly string[])[] = [
  ['server/'],
  ['runs/'],
  ['agent/'],
  ['tools/'],
  ['sandbox/'],
  ['security/'],
  ['observability/'],
  ['store/'],
  ['config.ts', 'errors.ts', 'ids.ts', 'clock.ts'],
  // config.ts's parts (value parsers, per-topic sections): they take the environment as an argument.
  ['config/'],
  // Leaves: they import nothing of the project but themselves.
  ['net/', 'protocol/'],
];

/** The composition root: wires everything, may import anything in src/ (and package.json). */
export const ROOT_FILES: readonly string[] = [
  'main.ts',
  'server-main.ts',
  'runtime.ts',
  'runtime-engines.ts',
  'runtime-health.ts',
  // The `agent-server` bin: `start` runs the server, other commands are the cli/ client.
  'cli.ts',
];

/** Packages beside the layers, with exactly what they may use. Nothing in the layers may import them. */
export const SIDE: Readonly<Record<string, readonly string[]>> = {
  // A client Tier 1 can copy: the signing code and the wire schemas, nothing of the server.
  'client/': ['security/signing.ts', 'protocol/'],
  // A mock Anthropic API for tests, the demo and benchmarks: self-contained.
  'mock-llm/': [],
  // The `agent-server` client commands: the typed client and the wire schemas, nothing of the server.
  'cli/': ['client/', 'protocol/', 'security/signing.ts'],
};

const LEAF_UNITS = new Set(LAYERS[LAYERS.length - 1]);

/** The unit (layer folder, file, side package) a src-relative path belongs to, or null. */
export function unitOf(rel: string): string | null {
  if (ROOT_FILES.includes(rel)) return 'root';
  const top = rel.includes('/') ? `${rel.slice(0, rel.indexOf('/'))}/` : rel;
  if (top in SIDE) return top;
  return LAYERS.some((row) => row.includes(top)) ? top : null;
}

function rank(unit: string): number {
  return LAYERS.findIndex((row) => row.includes(unit));
}

/** What `unit` may import besides itself, in words (for failure messages). */
export function allowedFor(unit: string): string {
  if (unit in SIDE) return SIDE[unit]!.length > 0 ? SIDE[unit]!.join(', ') : 'nothing outside itself';
  if (LEAF_UNITS.has(unit)) return 'nothing outside itself (a leaf)';
  const below = LAYERS.slice(rank(unit) + 1).flat();
  return below.join(', ');
}

function allowed(fromUnit: string, target: string): boolean {
  if (fromUnit === 'root') return true;
  const toUnit = unitOf(target);
  if (toUnit === null) return false;
  if (toUnit === fromUnit) return true;
  if (fromUnit in SIDE)
    return SIDE[fromUnit]!.some((p) => (p.endsWith('/') ? target.startsWith(p) : target === p));
  if (LEAF_UNITS.has(fromUnit) || toUnit === 'root' || toUnit in SIDE) return false;
  return rank(toUnit) > rank(fromUnit);
}

export interface Violation {
  file: string;
  line: number;
  message: string;
}

/** Every import in `files` that breaks the layering (`refsOf` gives a file's module references). */
export function layeringViolations(
  files: readonly SourceFile[],
  refsOf: (f: SourceFile) => ModuleRef[],
): Violation[] {
  const out: Violation[] = [];
  for (const f of files) {
    const from = unitOf(f.rel);
    if (from === null) {
      out.push({
        file: f.rel,
        line: 1,
        message: `src/${f.rel} belongs to no layer: add its folder to LAYERS in test/architecture/layers.ts and to AGENTS.md`,
      });
      continue;
    }
    for (const ref of refsOf(f)) {
      if (ref.specifier === '<computed>') {
        out.push({
          file: f.rel,
          line: ref.line,
          message: `src/${f.rel}:${ref.line} has a ${ref.kind} with a computed path: use a string literal so the layering can be checked`,
        });
        continue;
      }
      if (!ref.specifier.startsWith('.')) continue; // packages and node: built-ins
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(f.rel), ref.specifier));
      const outside = target.startsWith('../');
      if (allowed(from, target) && !(outside && from !== 'root')) continue;
      const where = outside ? target.replace(/^\.\.\//, '') : `src/${target}`;
      out.push({
        file: f.rel,
        line: ref.line,
        message:
          `src/${f.rel}:${ref.line} must not import ${where} (${ref.kind} '${ref.specifier}'): ` +
          `src/${from} may import only itself and ${allowedFor(from)}`,
      });
    }
  }
  return out;
}
