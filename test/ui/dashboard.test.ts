// The dashboard in real Chromium against the real server and the mock LLM (docs/api.md §12):
// sign in once; start a session on a local repository and watch text, tool cards, the diff and the
// commit arrive live; drop the network mid-run and see every event exactly once, in order; safe
// Markdown under a strict CSP; ANSI colours; steering (send, interrupt); cancel a workflow with the
// keyboard; axe on every page; the key in no URL, log line or audit record.
import { execFileSync } from 'node:child_process';
import type { Browser, BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUGFIX_COMMIT_MESSAGE, BUGFIX_FINAL_TEXT } from '../../src/mock-llm/scenarios.ts';
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
import { STREAM_LINES } from './scenarios.ts';

let s: UiServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let urls: string[];
const pageErrors: string[] = [];

type Sess = { id: string; status: string; lastSeq: number };

async function lastSeqShown(p: Page): Promise<number> {
  return Number(await p.getByTestId('log').getAttribute('data-last-seq'));
}

/** Waits until the page shows every event the server has for the (now idle) session. */
async function caughtUp(p: Page, sessionId: string): Promise<number> {
  const idle = await waitFor(async () => {
    const x = await s.api<Sess>('GET', `/api/sessions/${sessionId}`);
    return x.status === 'idle' && x;
  });
  await p.waitForFunction(
    (n) => document.querySelector('[data-testid=log]')?.getAttribute('data-last-seq') === String(n),
    idle.lastSeq,
  );
  return idle.lastSeq;
}

beforeAll(async () => {
  s = await startUiServer();
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  urls = recordUrls(context);
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

describe('dashboard (desktop, Chromium)', () => {
  it('redirects / to /ui/, asks for the key once and keeps it for the browser session only', async () => {
    const res = await page.goto(`${s.url}/`);
    expect(res?.url()).toBe(`${s.url}/ui/`);
    // The sign-in form is drawn by the app once its script ran (waits; isVisible() would not, and a
    // loaded machine lost that race — and with it every later test, which share this signed-in page).
    await page.getByLabel('API key').waitFor({ state: 'visible' });
    await signIn(page, s.url);
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([1, 0]);
    // A reload in the same tab stays signed in; a new tab (a new browser session) asks again.
    await page.reload();
    await page.getByRole('heading', { name: 'Sessions' }).waitFor();
    const other = await (await browser.newContext()).newPage();
    await other.goto(`${s.url}/ui/`);
    await other.getByLabel('API key').waitFor();
    await other.context().close();
  });

  it('refuses a wrong key with a message and no session', async () => {
    const p = await (await browser.newContext()).newPage();
    await p.goto(`${s.url}/ui/`);
    await p.getByLabel('API key').fill('not-the-key');
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByText('The server does not accept this key.').waitFor();
    expect(await p.evaluate(() => sessionStorage.length)).toBe(0);
    await p.context().close();
  });

  it('starts a session on a local repository and shows text, tool cards, the diff and the commit as they happen', async () => {
    await page.getByRole('link', { name: 'New session' }).click();
    await page.getByLabel('Repository URL').fill(s.bareRepo);
    await page.getByLabel('First message').fill('[[script:bugfix]] fix the bug in add()');
    await page.getByRole('button', { name: 'Start session' }).click();
    await page.waitForURL(/#\/sessions\/ses_/);
    const sessionId = decodeURIComponent(page.url().split('/').pop() ?? '');

    await page.getByText('Let me look at the code.').waitFor();
    // The test step sleeps a second: its card is seen running, before its result exists.
    const bash = page.locator('[data-tool=bash]');
    await bash.locator('.tool-status.running').waitFor();
    expect(await s.api<Sess>('GET', `/api/sessions/${sessionId}`)).toMatchObject({ status: 'running' });
    // The edit's diff, shown from the call's input.
    const diff = page.getByTestId('diff');
    await expect(diff.locator('.dl.del').textContent()).resolves.toContain('return a - b;');
    await expect(diff.locator('.dl.add').textContent()).resolves.toContain('return a + b;');
    await bash.locator('.tool-status.ok').waitFor();
    // The commit and the push, read from the git tool's results.
    await page.getByTestId('commit').getByText(BUGFIX_COMMIT_MESSAGE).waitFor();
    await page.getByTestId('push').waitFor();
    await page.getByText(BUGFIX_FINAL_TEXT).waitFor();
    await page.locator('.item.run.completed').waitFor();
    const last = await caughtUp(page, sessionId);
    expect(checkExactlyOnce(await renderedSeqs(page), last)).toBeUndefined();
    // Exactly one card per tool call, and the commit really is on the remote.
    expect(await page.locator('[data-kind=tool]').count()).toBe(5);
    const log = execFileSync('git', ['--git-dir', s.bareRepo, 'log', '--format=%s', '-1', 'main'], {
      encoding: 'utf8',
    });
    expect(log.trim()).toBe(BUGFIX_COMMIT_MESSAGE);
    await expect(page.getByTestId('usage').textContent()).resolves.toMatch(/in · .* out · \$/);
    expect(await seriousViolations(page)).toEqual([]);
  });

  it('renders every event exactly once, in order, when the network drops mid-run and comes back', async () => {
    const sess = await s.api<Sess>('POST', '/api/sessions', { title: 'offline run' });
    await page.goto(`${s.url}/ui/#/sessions/${sess.id}`);
    await page.getByRole('heading', { name: 'offline run' }).waitFor();
    await s.api('POST', `/api/sessions/${sess.id}/messages`, { content: '[[script:stream]] print' });
    await page.getByText('line 2', { exact: false }).first().waitFor();

    await context.setOffline(true);
    await page.getByTestId('live-state').getByText('offline').waitFor();
    const shownWhenDropped = await lastSeqShown(page);
    // The run goes on while the page is away: at least five more events are stored.
    await waitFor(
      async () => (await s.api<Sess>('GET', `/api/sessions/${sess.id}`)).lastSeq >= shownWhenDropped + 5,
    );
    expect(await lastSeqShown(page)).toBe(shownWhenDropped);

    await context.setOffline(false);
    await page.getByTestId('live-state').getByText('live').waitFor();
    const last = await caughtUp(page, sess.id);
    expect(last).toBeGreaterThan(shownWhenDropped + 5);
    expect(checkExactlyOnce(await renderedSeqs(page), last)).toBeUndefined();
    expect(await page.getByTestId('log').getAttribute('data-applied')).toBe(String(last));
    // The streamed output has every line once.
    const card = page.locator('[data-tool=bash]');
    await card.locator('summary').click();
    const out = (await card.locator('pre.out').textContent()) ?? '';
    for (let i = 1; i <= STREAM_LINES; i++) expect(out.split(`line ${i}\n`).length - 1).toBe(1);
    await page.getByText('All lines printed.').waitFor();
  });

  it('opens a long run from its stored pages, draws the newest items, shows earlier ones on request, then follows live', async () => {
    const sess = await s.api<Sess>('POST', '/api/sessions', { title: 'long history' });
    const n = 2_500;
    const stored = Array.from({ length: n }, (_, i) =>
      i % 2 === 0
        ? ({ type: 'message.assistant', data: { text: `answer ${i + 1}` } } as const)
        : ({ type: 'session.notice', data: { message: `notice ${i + 1}` } } as const),
    );
    for (let i = 0; i < n; i += 500)
      await s.server.runtime.store.appendEvents(sess.id, stored.slice(i, i + 500));
    await page.goto(`${s.url}/ui/#/sessions/${sess.id}`);
    await page.locator('[data-testid=log][data-loaded=true]').waitFor();
    const log = page.getByTestId('log');
    expect(await log.getAttribute('data-applied')).toBe(String(n));
    expect(await page.locator('[data-testid=log] > li').count()).toBe(60);
    expect(await page.locator('[data-testid=log] > li').last().getAttribute('data-seqs')).toBe(String(n));
    await page.getByRole('button', { name: /^Show 150 earlier items/ }).click();
    expect(await page.locator('[data-testid=log] > li').count()).toBe(210);
    const seqs = (await renderedSeqs(page)).flat();
    expect(seqs).toEqual(Array.from({ length: 210 }, (_, i) => n - 209 + i));
    // A live event after the history: applied once.
    await s.server.runtime.eventLog.append(sess.id, {
      type: 'session.notice',
      data: { message: 'one more' },
    });
    await page.getByText('one more').waitFor();
    expect(await log.getAttribute('data-applied')).toBe(String(n + 1));
  });

  it('renders the agent’s Markdown without running anything in it; the CSP refuses inline scripts anyway', async () => {
    const sess = await s.api<Sess>('POST', '/api/sessions', { title: 'hostile text' });
    await s.api('POST', `/api/sessions/${sess.id}/messages`, { content: '[[script:xss]] say hello' });
    await page.goto(`${s.url}/ui/#/sessions/${sess.id}`);
    const md = page.locator('.item.assistant .md').last();
    await md.locator('strong').getByText('bold').waitFor();
    await caughtUp(page, sess.id);
    expect(await md.locator('script, img, iframe, svg, [onclick], [onerror], [onload]').count()).toBe(0);
    expect(await md.locator('a', { hasText: 'click' }).getAttribute('href')).toBeNull();
    const site = md.locator('a', { hasText: 'site' });
    expect(await site.getAttribute('rel')).toContain('noopener');
    expect(await site.getAttribute('target')).toBe('_blank');
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    // Had markup slipped through, the CSP would still refuse to run it.
    const violated = await page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          document.addEventListener('securitypolicyviolation', (e) => resolve(e.violatedDirective), {
            once: true,
          });
          const el = document.createElement('script');
          el.textContent = 'window.__xss = 9';
          document.body.append(el);
          setTimeout(() => resolve('none'), 2_000);
        }),
    );
    expect(violated).toMatch(/^script-src/);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it("explains a failed run in words, with the server's message", async () => {
    const sess = await s.api<Sess>('POST', '/api/sessions', {
      title: 'bad repo',
      repoUrl: `${s.bareRepo}-missing`,
    });
    await s.api('POST', `/api/sessions/${sess.id}/messages`, { content: 'hi' });
    await page.goto(`${s.url}/ui/#/sessions/${sess.id}`);
    const failure = page.locator('.item.run.failed [role=note]');
    await failure.getByText("the session's repository could not be cloned into the workspace").waitFor();
    await expect(failure.locator('code').textContent()).resolves.toBe('clone_failed');
    await failure.getByText('does not exist').waitFor();
    expect(await seriousViolations(page)).toEqual([]);
  });

  it('shows tool output with its terminal colours', async () => {
    const sess = await s.api<Sess>('POST', '/api/sessions', { title: 'colours' });
    await s.api('POST', `/api/sessions/${sess.id}/messages`, { content: '[[script:ansi]] colours' });
    await page.goto(`${s.url}/ui/#/sessions/${sess.id}`);
    await caughtUp(page, sess.id);
    const card = page.locator('[data-tool=bash]');
    await card.locator('summary').click();
    await expect(card.locator('pre.out .a-fg-1').textContent()).resolves.toBe('red');
    await expect(card.locator('pre.out .a-fg-2.a-b').textContent()).resolves.toBe('green');
    expect(await card.locator('pre.out').textContent()).not.toContain('\u001b');
  });

  it('steers a session: interrupts the running run, then sends a message', async () => {
    const sess = await s.api<Sess>('POST', '/api/sessions', { title: 'steering' });
    await s.api('POST', `/api/sessions/${sess.id}/messages`, { content: '[[script:steer]] wait' });
    await page.goto(`${s.url}/ui/#/sessions/${sess.id}`);
    await page.locator('[data-tool=bash] .tool-status.running').waitFor();
    await page.getByRole('button', { name: 'Interrupt', exact: true }).click();
    await page.locator('.item.run.cancelled').waitFor();
    await page.getByLabel('Message').fill('and now something short');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.locator('.item.user', { hasText: 'and now something short' }).waitFor();
    await page.getByText('A short answer.').waitFor();
    await page.locator('.item.run.completed').waitFor();
    const last = await caughtUp(page, sess.id);
    expect(checkExactlyOnce(await renderedSeqs(page), last)).toBeUndefined();
  });

  it('cancels a running workflow from its page, by keyboard', async () => {
    const wf = await s.api<{ id: string }>('POST', '/api/workflows', {
      type: 'custom',
      instructions: '[[script:sleep30]] a long task',
    });
    await page.goto(`${s.url}/ui/#/workflows`);
    const row = page.locator(`tr[data-id="${wf.id}"]`);
    await row.waitFor();
    await page.locator(`tr[data-id="${wf.id}"][data-status=running]`).waitFor();
    await row.getByRole('link').click();
    await page.locator('[data-tool=bash] .tool-status.running').waitFor();
    // Tab from the top of the page to the cancel button, then Enter.
    await page.locator('body').focus();
    let focused = '';
    for (let i = 0; i < 40 && focused !== 'Cancel workflow'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
    }
    expect(focused).toBe('Cancel workflow');
    await page.keyboard.press('Enter');
    await page.getByTestId('status').getByText('cancelled').waitFor();
    expect((await s.api<{ status: string }>('GET', `/api/workflows/${wf.id}`)).status).toBe('cancelled');
    await page.locator('.item.workflow', { hasText: 'cancelled' }).waitFor();
  });

  it('cancels a pending or running workflow from the list', async () => {
    const wf = await s.api<{ id: string }>('POST', '/api/workflows', {
      type: 'test',
      instructions: '[[script:sleep30]] another long task',
    });
    await page.goto(`${s.url}/ui/#/workflows`);
    await page.getByRole('button', { name: `Cancel workflow ${wf.id}` }).click();
    await page.locator(`tr[data-id="${wf.id}"][data-status=cancelled]`).waitFor();
  });

  it('on a server without approvals or /api/stats: says approvals are not enabled, shows list counts and health', async () => {
    // An older server: its approval and stats routes answer "no route" (this one has them, so the
    // page is shown that answer by intercepting the requests).
    await withoutApprovals(async () => {
      await page.goto(`${s.url}/ui/#/approvals`);
      await page.getByTestId('approvals-off').waitFor();
      expect(await seriousViolations(page)).toEqual([]);
      await page.goto(`${s.url}/ui/#/ops`);
      await page.getByTestId('stats-fallback').getByText('Sessions running').waitFor();
      await page.getByTestId('audit').getByText('session.create').first().waitFor();
      // The audit filters narrow the log.
      await page.getByLabel('Action').selectOption('workflow.cancel');
      await page.waitForFunction(() =>
        [...document.querySelectorAll('[data-testid=audit] tbody tr')].every((r) =>
          r.textContent?.includes('workflow.cancel'),
        ),
      );
      expect(await page.locator('[data-testid=audit] tbody tr').count()).toBe(2);
      expect(await seriousViolations(page)).toEqual([]);
    });
  });

  it('shows an approval request in the run view, and says so when the server cannot take decisions', async () => {
    await withoutApprovals(() => approvalCardOnOldServer());
  });

  async function approvalCardOnOldServer(): Promise<void> {
    const sess = await s.api<Sess>('POST', '/api/sessions', { title: 'approval event' });
    // The event as the approvals work will emit it (declared in src/protocol/event-types.ts).
    await s.server.runtime.eventLog.append(sess.id, {
      type: 'approval.requested',
      data: {
        approvalId: 'apr_test',
        toolUseId: 'toolu_x',
        name: 'git',
        input: { operation: 'push' },
        rule: 'git.push',
        expiresAt: new Date(Date.now() + 600_000).toISOString(),
      },
    });
    await page.goto(`${s.url}/ui/#/sessions/${sess.id}`);
    const card = page.locator('.item.approval.pending');
    await card.getByText('git.push').waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await card.getByRole('button', { name: /^Allow/ }).focus();
    await page.keyboard.press('Enter');
    await card.getByRole('alert').getByText('approvals are not enabled on this server').waitFor();
  }

  /** Runs `fn` with the page's approval and stats requests answered as a server without §10/§11 answers them. */
  async function withoutApprovals(fn: () => Promise<void>): Promise<void> {
    const noRoute = async (route: Route) =>
      route.fulfill({
        status: 404,
        contentType: 'application/json',
        body: JSON.stringify({
          error: {
            code: 'not_found',
            message: `no route for ${route.request().method()} ${new URL(route.request().url()).pathname}`,
          },
        }),
      });
    const routes = ['**/api/approvals**', '**/approvals/**', '**/api/stats**'];
    for (const r of routes) await page.route(r, noRoute);
    try {
      await fn();
    } finally {
      for (const r of routes) await page.unroute(r, noRoute);
    }
  }

  it('has no serious or critical accessibility violations on any page', async () => {
    const { items } = await s.api<{ items: Array<{ id: string }> }>('GET', '/api/workflows');
    const pages = [
      '#/sessions',
      '#/workflows',
      `#/workflows/${items[0]?.id}`,
      '#/new/session',
      '#/new/workflow',
    ];
    for (const hash of pages) {
      await page.goto(`${s.url}/ui/${hash}`);
      await page.locator('main h1').first().waitFor();
      await page.waitForLoadState('networkidle').catch(() => {});
      const v = await seriousViolations(page);
      expect(v, `${hash}: ${JSON.stringify(v)}`).toEqual([]);
    }
    const signin = await (await browser.newContext()).newPage();
    await signin.goto(`${s.url}/ui/`);
    await signin.getByLabel('API key').waitFor();
    expect(await seriousViolations(signin)).toEqual([]);
    await signin.context().close();
  });

  it('never put the key in a URL, a server log line or the audit log; no script error on the way', async () => {
    expect(urls.length).toBeGreaterThan(20);
    expect(urls.some((u) => u.startsWith('ws://'))).toBe(true);
    expect(urls.filter((u) => u.includes(KEY))).toEqual([]);
    expect(s.logs.length).toBeGreaterThan(0);
    expect(s.logs.filter((l) => l.includes(KEY))).toEqual([]);
    const audit = JSON.stringify(await s.api('GET', '/api/audit?limit=500'));
    expect(audit).toContain('session.create');
    expect(audit).not.toContain(KEY);
    expect(pageErrors).toEqual([]);
  });
});
