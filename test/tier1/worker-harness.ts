// Runs the example Tier 1 Worker (examples/tier1-worker) in the real Workers runtime: bundled with
// esbuild as wrangler would (ESM, `workerd`/`worker`/`browser` export conditions, `cloudflare:*`
// external), then served by workerd through Miniflare with the compatibility date, vars and Durable
// Object binding read from its wrangler.toml — and no compatibility flags (so no nodejs_compat).
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { REPO_ROOT } from '../architecture/source.ts';

export const WORKER_DIR = path.join(REPO_ROOT, 'examples', 'tier1-worker');

export interface WranglerConfig {
  main: string;
  compatibilityDate: string;
  compatibilityFlags: string[];
  vars: Record<string, string>;
  durableObjects: Array<{ name: string; className: string }>;
}

/** The few wrangler.toml keys the example uses (string values, [vars], [[durable_objects.bindings]]). */
export function readWranglerToml(file = path.join(WORKER_DIR, 'wrangler.toml')): WranglerConfig {
  const cfg: WranglerConfig = {
    main: '',
    compatibilityDate: '',
    compatibilityFlags: [],
    vars: {},
    durableObjects: [],
  };
  let section = '';
  let binding: Record<string, string> | undefined;
  for (const rawLine of readFileSync(file, 'utf8').split('\n')) {
    const line = rawLine.replace(/^\s+|\s+$/g, '');
    if (!line || line.startsWith('#')) continue;
    const header = /^\[\[?([\w.]+)\]\]?$/.exec(line);
    if (header) {
      section = header[1]!;
      if (section === 'durable_objects.bindings') {
        binding = {};
        cfg.durableObjects.push(binding as unknown as { name: string; className: string });
      }
      continue;
    }
    const kv = /^([\w-]+)\s*=\s*(.+)$/.exec(line);
    if (!kv) continue;
    const [, key, value] = kv as unknown as [string, string, string];
    const str = /^"([^"]*)"$/.exec(value)?.[1];
    if (section === '' && key === 'main') cfg.main = str ?? '';
    else if (section === '' && key === 'compatibility_date') cfg.compatibilityDate = str ?? '';
    else if (section === '' && key === 'compatibility_flags')
      cfg.compatibilityFlags = JSON.parse(value) as string[];
    else if (section === 'vars' && str !== undefined) cfg.vars[key] = str;
    else if (section === 'durable_objects.bindings' && binding && str !== undefined)
      binding[key === 'class_name' ? 'className' : key] = str;
  }
  return cfg;
}

/** Bundles the Worker (or any entry) as wrangler does; returns the bundle's text. */
export async function bundle(entry: string, opts: { minify?: boolean } = {}): Promise<string> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    external: ['cloudflare:*'],
    minify: opts.minify ?? false,
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

export interface RunningWorker {
  url: string;
  mf: Miniflare;
  config: WranglerConfig;
  close(): Promise<void>;
}

/** Starts the example Worker in workerd with wrangler.toml's vars overridden by `vars` (secrets too). */
export async function startWorker(vars: Record<string, string>): Promise<RunningWorker> {
  const config = readWranglerToml();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tier1-worker-'));
  const script = await bundle(path.join(WORKER_DIR, config.main));
  const mf = new Miniflare({
    modules: true,
    script,
    scriptPath: path.join(dir, 'worker.js'),
    modulesRoot: dir,
    compatibilityDate: config.compatibilityDate,
    compatibilityFlags: config.compatibilityFlags,
    bindings: { ...config.vars, ...vars },
    durableObjects: Object.fromEntries(
      config.durableObjects.map((d) => [d.name, { className: d.className, useSQLite: true }]),
    ),
    host: '127.0.0.1',
    port: 0,
  });
  try {
    const url = (await mf.ready).origin;
    return {
      url,
      mf,
      config,
      close: async () => {
        await mf.dispose();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await mf.dispose().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
