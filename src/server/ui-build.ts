// Builds the dashboard (ui/ at the repository root) with esbuild, once per version of its inputs.
//
// The bundle's directory is named by a hash of everything that goes into it (the files of ui/,
// package-lock.json for the versions of the libraries bundled, the failure-code texts injected at
// build time, and BUILD_VERSION for the options below), so "missing or stale" is one stat: a
// fresh checkout builds at its first start, a changed ui/ builds again, an unchanged one reuses its
// bundle. A build goes to a temporary directory that is renamed into place when complete, so two
// processes building at once (tests, several instances on one checkout) never serve half a bundle.
//
// Where: the first writable of `outRoots` (the server passes <checkout>/dist/ui, then
// DATA_DIR/ui): directories of the server, never anything a sandbox can write. A Docker image
// builds at image build time (`npm run build:ui`), so its read-only /app needs no build at start.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../observability/logger.ts';
import { runFailureCodes } from '../protocol/failure-codes.ts';

/** Bump when the build options change: old bundles then count as stale. */
const BUILD_VERSION = '1';
const COMPLETE = 'bundle.json';
/** A temporary build directory older than this is an abandoned build (a crash) and is removed. */
const ABANDONED_MS = 10 * 60_000;

export interface UiBuildOptions {
  /** ui/ of the checkout: index.html (template) and src/main.tsx. */
  sourceDir: string;
  /** package-lock.json: the versions of the bundled libraries. */
  lockFile: string;
  /** Where bundles live, in order of preference; the first writable one receives a build. */
  outRoots: string[];
  logger?: Logger;
}

export interface UiBundleInfo {
  dir: string;
  hash: string;
  /** True when this call built it. */
  built: boolean;
  /** Relative paths of the bundle's files (index.html, assets/…). */
  files: string[];
}

/** Values the UI gets at build time (esbuild `define`): one source for texts the server declares. */
export function buildDefines(): Record<string, string> {
  return {
    __FAILURE_CODES__: JSON.stringify(runFailureCodes),
    'process.env.NODE_ENV': '"production"',
  };
}

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, r)));
    else if (e.isFile()) out.push(r);
  }
  return out.sort();
}

/** The hash of every input of a build; undefined when ui/ is absent (a bundle-only install). */
export async function inputHash(
  opts: Pick<UiBuildOptions, 'sourceDir' | 'lockFile'>,
): Promise<string | undefined> {
  let files: string[];
  try {
    files = await listFiles(opts.sourceDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const h = createHash('sha256').update(`ui-build ${BUILD_VERSION}\0`);
  h.update(JSON.stringify(buildDefines()));
  for (const f of files) {
    h.update(`\0${f}\0`);
    h.update(await fs.readFile(path.join(opts.sourceDir, f)));
  }
  h.update('\0lock\0');
  h.update(await fs.readFile(opts.lockFile).catch(() => Buffer.alloc(0)));
  return h.digest('hex').slice(0, 16);
}

async function readComplete(dir: string): Promise<string[] | undefined> {
  try {
    const m = JSON.parse(await fs.readFile(path.join(dir, COMPLETE), 'utf8')) as { files?: unknown };
    return Array.isArray(m.files) ? m.files.filter((f): f is string => typeof f === 'string') : undefined;
  } catch {
    return undefined;
  }
}

/** The newest complete bundle under the roots (for an install that ships dist/ui without ui/). */
async function newestBundle(roots: string[]): Promise<UiBundleInfo | undefined> {
  let best: { info: UiBundleInfo; mtime: number } | undefined;
  for (const root of roots) {
    const names = await fs.readdir(root).catch(() => [] as string[]);
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const dir = path.join(root, name);
      const files = await readComplete(dir);
      if (!files) continue;
      const mtime = (await fs.stat(path.join(dir, COMPLETE))).mtimeMs;
      if (!best || mtime > best.mtime) best = { info: { dir, hash: name, built: false, files }, mtime };
    }
  }
  return best?.info;
}

/** The bundle for the current inputs: an existing complete one, or a new build. */
export async function prepareUiBundle(opts: UiBuildOptions): Promise<UiBundleInfo> {
  const hash = await inputHash(opts);
  if (hash === undefined) {
    const found = await newestBundle(opts.outRoots);
    if (found) return found;
    throw new Error(
      `the dashboard cannot be served: ${opts.sourceDir} is missing and no built bundle was found`,
    );
  }
  for (const root of opts.outRoots) {
    const dir = path.join(root, hash);
    const files = await readComplete(dir);
    if (files) return { dir, hash, built: false, files };
  }
  let lastError: unknown;
  for (const root of opts.outRoots) {
    try {
      return await buildInto(root, hash, opts);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Not writable here (a read-only install): try the next root.
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        lastError = err;
        continue;
      }
      throw err;
    }
  }
  throw lastError ?? new Error('no directory to build the dashboard into');
}

async function buildInto(root: string, hash: string, opts: UiBuildOptions): Promise<UiBundleInfo> {
  await fs.mkdir(root, { recursive: true, mode: 0o755 });
  const tmp = path.join(root, `.tmp-${hash}-${randomBytes(6).toString('hex')}`);
  const started = performance.now();
  try {
    const files = await runEsbuild(opts.sourceDir, tmp);
    await fs.writeFile(path.join(tmp, COMPLETE), JSON.stringify({ hash, files }));
    const dir = path.join(root, hash);
    try {
      await fs.rename(tmp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      // Another process finished the same build first: use it.
      await fs.rm(tmp, { recursive: true, force: true });
      const theirs = await readComplete(dir);
      if (!theirs) throw err;
      return { dir, hash, built: false, files: theirs };
    }
    opts.logger?.info('dashboard built', { dir, ms: Math.round(performance.now() - started) });
    await removeOldBundles(root, hash);
    return { dir, hash, built: true, files };
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}

/** Runs esbuild on ui/src/main.tsx into `outDir/assets`, then writes index.html from ui/index.html. */
async function runEsbuild(sourceDir: string, outDir: string): Promise<string[]> {
  // Loaded only when a build is needed: a server whose bundle is current never loads esbuild.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: { app: path.join(sourceDir, 'src/main.tsx') },
    absWorkingDir: sourceDir,
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022', 'chrome100', 'safari15', 'firefox100'],
    outdir: path.join(outDir, 'assets'),
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    define: buildDefines(),
    legalComments: 'linked',
    metafile: true,
    write: true,
    logLevel: 'silent',
  });
  const outputs = Object.entries(result.metafile.outputs);
  const js = outputs.find(([, o]) => o.entryPoint !== undefined && o.cssBundle !== undefined)?.[0];
  const entry = outputs.find(([f]) => f === js)?.[1];
  if (!js || !entry?.cssBundle) throw new Error('dashboard build produced no script or stylesheet');
  const rel = (f: string) => path.relative(outDir, path.resolve(sourceDir, f)).split(path.sep).join('/');
  const template = await fs.readFile(path.join(sourceDir, 'index.html'), 'utf8');
  const html = template.replaceAll('%APP_JS%', rel(js)).replaceAll('%APP_CSS%', rel(entry.cssBundle));
  await fs.writeFile(path.join(outDir, 'index.html'), html);
  return ['index.html', ...outputs.map(([f]) => rel(f))].sort();
}

/** Removes bundles of other inputs and abandoned temporary builds (best effort). */
async function removeOldBundles(root: string, keep: string): Promise<void> {
  const names = await fs.readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    if (name === keep) continue;
    const p = path.join(root, name);
    if (name.startsWith('.tmp-')) {
      const st = await fs.stat(p).catch(() => undefined);
      if (!st || Date.now() - st.mtimeMs < ABANDONED_MS) continue;
    }
    await fs.rm(p, { recursive: true, force: true }).catch(() => {});
  }
}
