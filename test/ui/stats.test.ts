// PENDING — enable when GET /api/stats lands (docs/api.md §11): rename to stats.test.ts.
// Not matched by vitest's include (test/**/*.test.ts) until then, because CI forbids skipped tests.
//
// The operations page draws what /api/stats reports: every percentile group as a row of the
// durations table, the alerts firing (or that none is), the other figures (queue depth, runs
// active, error rate…); the window selector asks again; axe finds nothing serious.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsOf, percentileRows } from '../../ui/src/model/stats.ts';
import { waitFor } from '../helpers/server.ts';
import { launchBrowser, seriousViolations, signIn, startUiServer, type UiServer } from './browser.ts';

let s: UiServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  s = await startUiServer();
  browser = await launchBrowser();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await signIn(page, s.url);
  // Something to count: one finished session with tool calls.
  const sess = await s.api<{ id: string }>('POST', '/api/sessions', { repoUrl: s.bareRepo });
  await s.api('POST', `/api/sessions/${sess.id}/messages`, { content: '[[script:bugfix]] fix it' });
  await waitFor(
    async () => (await s.api<{ status: string }>('GET', `/api/sessions/${sess.id}`)).status === 'idle',
  );
});

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

describe('operations page with /api/stats', () => {
  it('shows the percentiles, alerts and figures the server reports', async () => {
    const stats = await s.api('GET', '/api/stats?window=3600');
    await page.goto(`${s.url}/ui/#/ops`);
    await page.getByTestId('stats').waitFor();
    const rows = percentileRows(stats);
    expect(rows.length).toBeGreaterThan(0);
    const table = page.getByTestId('percentiles');
    for (const r of rows) await table.getByRole('cell', { name: r.label, exact: true }).waitFor();
    const alerts = alertsOf(stats);
    if (alerts.length === 0) await page.getByText('No alert is firing.').waitFor();
    for (const a of alerts) await page.getByTestId('alerts').getByText(a.name).waitFor();
    await page.getByTestId('figures').waitFor();
    expect(await page.getByTestId('stats-fallback').count()).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);
  });

  it('asks again for another window', async () => {
    const asked = page.waitForRequest((r) => r.url().includes('/api/stats?window=300'));
    await page.getByLabel('Window').selectOption('300');
    await asked;
    await page.getByTestId('stats').waitFor();
  });
});
