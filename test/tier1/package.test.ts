// What keeps @duyetbot/tier1 a Workers package: no dependencies, no Node built-ins (a bundle for a
// neutral platform, where `node:*` cannot resolve, builds), and the example Worker's wrangler.toml
// asks for no compatibility flags (so no nodejs_compat) and binds the Durable Object it exports.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../architecture/source.ts';
import { bundle, readWranglerToml, WORKER_DIR } from './worker-harness.ts';

const PKG = path.join(REPO_ROOT, 'packages', 'tier1');

describe('@duyetbot/tier1 as a Workers package', () => {
  it('has no dependencies and exports TypeScript source', () => {
    const pkg = JSON.parse(readFileSync(path.join(PKG, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.name).toBe('@duyetbot/tier1');
    expect(pkg.type).toBe('module');
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.exports).toEqual({ '.': './src/index.ts' });
  });

  it('uses no Node built-ins or globals (fetch and Web Crypto only)', async () => {
    for (const f of readdirSync(path.join(PKG, 'src'))) {
      const text = readFileSync(path.join(PKG, 'src', f), 'utf8');
      expect(text, f).not.toMatch(
        /from ['"]node:|require\(|\bBuffer\b|\bprocess\.|from ['"](crypto|fs|http|https|path)['"]/,
      );
    }
    const js = await bundle(path.join(PKG, 'src', 'index.ts'));
    expect(js).not.toMatch(/['"]node:/);
    expect(js).not.toMatch(/^import /m);
  });

  it('the example Worker: no compatibility flags, its Durable Object exported, only cloudflare:workers imported', async () => {
    const cfg = readWranglerToml();
    expect(cfg.compatibilityFlags).toEqual([]);
    const settings = readFileSync(path.join(WORKER_DIR, 'wrangler.toml'), 'utf8')
      .split('\n')
      .filter((l) => !l.trim().startsWith('#'));
    expect(settings.join('\n')).not.toMatch(/nodejs_compat|compatibility_flags/);
    expect(cfg.compatibilityDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(cfg.durableObjects).toEqual([{ name: 'STATE', className: 'BotState' }]);
    const js = await bundle(path.join(WORKER_DIR, cfg.main));
    const imports = [...js.matchAll(/^import .* from ["']([^"']+)["']/gm)].map((m) => m[1]);
    expect(imports).toEqual(['cloudflare:workers']);
    expect(js).toMatch(/export\s*\{[^}]*\bBotState\b/);
    for (const v of [
      'AGENT_SERVER_URL',
      'TELEGRAM_API_URL',
      'GITHUB_API_URL',
      'REPO_URL_TEMPLATE',
      'APPROVE',
    ])
      expect(Object.keys(cfg.vars)).toContain(v);
    // Secrets are never vars.
    for (const s of [
      'SIGNING_SECRET',
      'TELEGRAM_BOT_TOKEN',
      'TELEGRAM_WEBHOOK_SECRET',
      'GITHUB_TOKEN',
      'GITHUB_WEBHOOK_SECRET',
    ])
      expect(Object.keys(cfg.vars)).not.toContain(s);
  });
});
