// Shared pieces of the dashboard's browser tests: real Chromium (the Debian `chromium` package,
// driven by playwright-core), the real server on the mock LLM, axe-core, and the checks every test
// file makes (each seq rendered once, in order; the key in no URL).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { createBugfixRepo } from '../../src/mock-llm/index.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { closeMockedServer, type MockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { json, tempDir } from '../helpers/server.ts';
import { uiResponder } from './scenarios.ts';

export const KEY = 'ui-test-key-0123456789abcdef';

const CANDIDATES = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/lib/chromium/chromium',
  '/usr/bin/google-chrome',
];

/** The Chromium binary, or an error that says how to install it. */
export function chromiumPath(): string {
  for (const p of CANDIDATES) if (p && existsSync(p)) return p;
  throw new Error(
    'Chromium not found (looked in CHROMIUM_PATH and /usr/bin/chromium…). Install it: ' +
      '`apt-get install -y chromium` (Debian; .ci/run does), or set CHROMIUM_PATH.',
  );
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    // --no-sandbox: the tests run as root, where Chromium's own sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

export interface UiServer extends MockedServer {
  url: string;
  /** Every line the server logged (debug and up). */
  logs: string[];
  bareRepo: string;
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

/** The server (bearer KEY, no rate limit in the way, logs captured) on the mock LLM of scenarios.ts. */
export async function startUiServer(): Promise<UiServer> {
  const logs: string[] = [];
  const root = await tempDir('ui-test-');
  const { bareRepo } = await createBugfixRepo(root);
  const m = await startMockedServer(
    { responder: uiResponder() },
    { ANTHROPIC_API_KEY: 'k', API_KEYS: KEY, RATE_LIMIT_PER_MINUTE: '100000', UI_ENABLED: 'true' },
    { logger: createLogger({ level: 'debug', write: (l) => logs.push(l) }) },
  );
  const url = m.server.url;
  return {
    ...m,
    url,
    logs,
    bareRepo,
    api: async <T>(method: string, path: string, body?: unknown) =>
      json<T>(
        await fetch(url + path, {
          method,
          headers: {
            Authorization: `Bearer ${KEY}`,
            ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
      ),
    close: () => closeMockedServer(m.server, m.mock),
  };
}

/** Records every URL the page asked for (HTTP and WebSocket). */
export function recordUrls(context: BrowserContext): string[] {
  const urls: string[] = [];
  context.on('request', (r) => urls.push(r.url()));
  context.on('page', (p) => p.on('websocket', (ws) => urls.push(ws.url())));
  return urls;
}

export async function signIn(page: Page, url: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.getByLabel('API key').fill(KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Sessions' }).waitFor();
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: number;
}

/**
 * axe-core on the page as it is. Evaluated through the DevTools protocol, which the page's CSP does
 * not govern (a <script> tag would be refused, as it should).
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(`${AXE_SOURCE};0`);
  return page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run(
            ctx: Document,
            opts: unknown,
          ): Promise<{
            violations: Array<{ id: string; impact: string | null; help: string; nodes: unknown[] }>;
          }>;
        };
      }
    ).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length }));
  });
}

/** Serious and critical violations only (the bar). */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  return (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** The seqs each rendered log item carries, in DOM order. */
export async function renderedSeqs(page: Page): Promise<number[][]> {
  return page.$$eval('[data-testid=log] [data-seqs]', (els) =>
    els.map((e) => (e.getAttribute('data-seqs') ?? '').split(' ').filter(Boolean).map(Number)),
  );
}

/** Each of 1..lastSeq exactly once, and items in the order of their first event. */
export function checkExactlyOnce(items: number[][], lastSeq: number): string | undefined {
  const all = items.flat();
  const counts = new Map<number, number>();
  for (const s of all) counts.set(s, (counts.get(s) ?? 0) + 1);
  const dup = [...counts].filter(([, n]) => n > 1).map(([s]) => s);
  if (dup.length) return `seqs rendered more than once: ${dup.join(', ')}`;
  const missing: number[] = [];
  for (let s = 1; s <= lastSeq; s++) if (!counts.has(s)) missing.push(s);
  if (missing.length) return `seqs missing: ${missing.join(', ')}`;
  const firsts = items.map((i) => i[0]).filter((s): s is number => s !== undefined);
  for (let i = 1; i < firsts.length; i++)
    if (firsts[i]! <= firsts[i - 1]!) return `items out of order at ${firsts[i - 1]} → ${firsts[i]}`;
  for (const i of items)
    for (let k = 1; k < i.length; k++)
      if (i[k]! <= i[k - 1]!) return `item seqs out of order: ${i.join(' ')}`;
  return undefined;
}
