// PENDING — enable when approvals land (docs/api.md §10): rename to approvals.test.ts.
// Not matched by vitest's include (test/**/*.test.ts) until then, because CI forbids skipped tests.
//
// The approvals inbox in real Chromium: a session whose policy gates `git.push` stops at the push;
// the navigation shows one pending approval; the inbox allows it by keyboard and the push lands in
// the remote; a denial with a message reaches the agent; a decision from the run view works too.
import { execFileSync } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUGFIX_COMMIT_MESSAGE } from '../../src/mock-llm/scenarios.ts';
import { waitFor } from '../helpers/server.ts';
import { launchBrowser, seriousViolations, signIn, startUiServer, type UiServer } from './browser.ts';

let s: UiServer;
let browser: Browser;
let page: Page;

type Sess = { id: string; status: string; lastSeq: number };

/** A session on the fixture repository whose pushes wait for a person. */
async function gatedBugfix(): Promise<Sess> {
  const sess = await s.api<Sess>('POST', '/api/sessions', {
    repoUrl: s.bareRepo,
    policy: { approve: ['git.push'] },
  });
  await s.api('POST', `/api/sessions/${sess.id}/messages`, { content: '[[script:bugfix]] fix and push' });
  await waitFor(async () => (await s.api<Sess>('GET', `/api/sessions/${sess.id}`)).status === 'waiting');
  return sess;
}

const remoteHead = () =>
  execFileSync('git', ['--git-dir', s.bareRepo, 'log', '--format=%s', '-1', 'main'], {
    encoding: 'utf8',
  }).trim();

beforeAll(async () => {
  s = await startUiServer();
  browser = await launchBrowser();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await signIn(page, s.url);
});

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

describe('approvals in the dashboard', () => {
  it('approves a push from the inbox, by keyboard, and sees it land', async () => {
    const sess = await gatedBugfix();
    expect(remoteHead()).not.toBe(BUGFIX_COMMIT_MESSAGE);
    await page.getByTestId('approval-count').getByText('1').waitFor();
    await page.getByTestId('nav-approvals').click();
    const card = page.locator('[data-approval]').first();
    await card.getByText('git.push').waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    // Tab to the Allow button, then Enter.
    let focused = '';
    for (let i = 0; i < 40 && focused !== 'allow'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.getAttribute('data-action') ?? '');
    }
    expect(focused).toBe('allow');
    await page.keyboard.press('Enter');
    await page.getByText('Allowed; waiting for the agent…').waitFor();
    await waitFor(async () => (await s.api<Sess>('GET', `/api/sessions/${sess.id}`)).status === 'idle');
    expect(remoteHead()).toBe(BUGFIX_COMMIT_MESSAGE);
    // The run view tells the same story: the decision, then the push.
    await page.goto(`${s.url}/ui/#/sessions/${sess.id}`);
    await page.locator('.item.approval.resolved').getByText('Allowed by user').waitFor();
    await page.getByTestId('push').waitFor();
    await page.getByTestId('approval-count').waitFor({ state: 'detached' });
  });

  it('denies with a message: the push fails with it and nothing reaches the remote', async () => {
    const before = execFileSync('git', ['--git-dir', s.bareRepo, 'rev-parse', 'main'], { encoding: 'utf8' });
    const sess = await gatedBugfix();
    await page.goto(`${s.url}/ui/#/approvals`);
    const card = page.locator('[data-approval]').first();
    await card.getByLabel('Message to the agent (optional)').fill('not today');
    await card.getByRole('button', { name: /^Deny/ }).click();
    await page.getByText('Denied; waiting for the agent…').waitFor();
    await waitFor(async () => (await s.api<Sess>('GET', `/api/sessions/${sess.id}`)).status === 'idle');
    await page.goto(`${s.url}/ui/#/sessions/${sess.id}`);
    await page.locator('.item.approval.resolved').getByText('not today').waitFor();
    const push = page.locator('[data-kind=tool].failed [data-tool=git]').last();
    await push.locator('summary').waitFor();
    expect(execFileSync('git', ['--git-dir', s.bareRepo, 'rev-parse', 'main'], { encoding: 'utf8' })).toBe(
      before,
    );
  });

  it('decides from the run view itself, and the decided tab lists it', async () => {
    const sess = await gatedBugfix();
    await page.goto(`${s.url}/ui/#/sessions/${sess.id}`);
    const pending = page.locator('.item.approval.pending');
    await pending.getByRole('button', { name: /^Allow/ }).click();
    await page.locator('.item.approval.resolved').last().getByText('Allowed by user').waitFor();
    await page.goto(`${s.url}/ui/#/approvals`);
    await page.getByRole('button', { name: 'Decided' }).click();
    await page.locator('[data-approval]').first().getByText('allow by user').waitFor();
  });
});
