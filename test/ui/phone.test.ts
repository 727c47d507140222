// The same flow at phone width (390 × 844, touch): sign in, start a session on a local repository
// and watch the diff and the commit arrive, lose the network mid-run and resume without a gap or a
// duplicate; no page scrolls sideways; axe finds nothing serious; the key is in no URL.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUGFIX_COMMIT_MESSAGE } from '../../src/mock-llm/scenarios.ts';
import { waitFor } from '../helpers/server.ts';
import {
  checkExactlyOnce,
  KEY,
  launchBrowser,
  recordUrls,
  renderedSeqs,
  seriousViolations,
  signIn,
  startUiServer,
  type UiServer,
} from './browser.ts';

const WIDTH = 390;
let s: UiServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let urls: string[];

type Sess = { id: string; status: string; lastSeq: number };

async function caughtUp(sessionId: string): Promise<number> {
  const idle = await waitFor(async () => {
    const x = await s.api<Sess>('GET', `/api/sessions/${sessionId}`);
    return x.status === 'idle' && x;
  });
  await page.waitForFunction(
    (n) => document.querySelector('[data-testid=log]')?.getAttribute('data-last-seq') === String(n),
    idle.lastSeq,
  );
  return idle.lastSeq;
}

/** Nothing wider than the screen: the page never scrolls sideways. */
async function overflowX(p: Page): Promise<number> {
  return p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

beforeAll(async () => {
  s = await startUiServer();
  browser = await launchBrowser();
  context = await browser.newContext({
    viewport: { width: WIDTH, height: 844 },
    deviceScaleFactor: 3,
    isMobile: true,
    hasTouch: true,
  });
  urls = recordUrls(context);
  page = await context.newPage();
});

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

describe('dashboard at 390 px', () => {
  it('signs in and starts a session on a local repository; the diff and the commit appear live', async () => {
    await signIn(page, s.url);
    expect(await overflowX(page)).toBeLessThanOrEqual(0);
    await page.getByRole('link', { name: 'New session' }).tap();
    await page.getByLabel('Repository URL').fill(s.bareRepo);
    await page.getByLabel('First message').fill('[[script:bugfix]] fix it');
    await page.getByRole('button', { name: 'Start session' }).tap();
    await page.waitForURL(/#\/sessions\/ses_/);
    const sessionId = decodeURIComponent(page.url().split('/').pop() ?? '');
    await page.locator('[data-tool=bash] .tool-status.running').waitFor();
    await page.getByTestId('diff').locator('.dl.add').waitFor();
    await page.getByTestId('commit').getByText(BUGFIX_COMMIT_MESSAGE).waitFor();
    const last = await caughtUp(sessionId);
    expect(checkExactlyOnce(await renderedSeqs(page), last)).toBeUndefined();
    expect(await overflowX(page)).toBeLessThanOrEqual(0);
    expect(await seriousViolations(page)).toEqual([]);
  });

  it('resumes after the network drops mid-run: every event once, in order', async () => {
    const sess = await s.api<Sess>('POST', '/api/sessions', { title: 'phone offline' });
    await page.goto(`${s.url}/ui/#/sessions/${sess.id}`);
    await page.getByRole('heading', { name: 'phone offline' }).waitFor();
    await s.api('POST', `/api/sessions/${sess.id}/messages`, { content: '[[script:stream]] print' });
    await page.getByText('line 3').first().waitFor();
    await context.setOffline(true);
    await page.getByTestId('live-state').getByText('offline').waitFor();
    const shown = Number(await page.getByTestId('log').getAttribute('data-last-seq'));
    await waitFor(async () => (await s.api<Sess>('GET', `/api/sessions/${sess.id}`)).lastSeq >= shown + 5);
    await context.setOffline(false);
    const last = await caughtUp(sess.id);
    expect(last).toBeGreaterThan(shown + 5);
    expect(checkExactlyOnce(await renderedSeqs(page), last)).toBeUndefined();
  });

  it('fits every page on the screen with no serious accessibility violation', async () => {
    const wf = await s.api<{ id: string }>('POST', '/api/workflows', {
      type: 'custom',
      instructions: 'short task',
    });
    for (const hash of [
      '#/sessions',
      '#/workflows',
      `#/workflows/${wf.id}`,
      '#/new/session',
      '#/approvals',
      '#/ops',
    ]) {
      await page.goto(`${s.url}/ui/${hash}`);
      await page.locator('main h1').first().waitFor();
      await page.waitForLoadState('networkidle').catch(() => {});
      expect(await overflowX(page), hash).toBeLessThanOrEqual(0);
      const v = await seriousViolations(page);
      expect(v, `${hash}: ${JSON.stringify(v)}`).toEqual([]);
    }
  });

  it('never put the key in a URL', async () => {
    expect(urls.length).toBeGreaterThan(10);
    expect(urls.filter((u) => u.includes(KEY))).toEqual([]);
    expect(s.logs.filter((l) => l.includes(KEY))).toEqual([]);
  });
});
