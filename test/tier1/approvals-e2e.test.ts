// PENDING: enable once §10 approvals and notifications are on main (POST
// /api/workflows/:id/approvals/:approvalId, `approval.requested` POSTed to callbackUrl with
// X-Callback-Kind: event). To enable, rename this file to `approvals-e2e.test.ts` (vitest includes
// test/**/*.test.ts only; CI forbids skipped tests, so it waits under this name instead).
//
// With `git.push` under approval (the Worker's APPROVE var → the workflow's policy.approve), the
// Telegram inline-button press is what lets the push happen: before it the branch is not on the
// remote and no PR exists; after "Allow" the push, the PR and the result message with its URL
// follow. "Deny" keeps the branch off the remote. On GitHub, "@duyetbot approve" in the issue does the same.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/sleep.ts';
import {
  alice,
  BRANCH,
  type Chain,
  GH_HOOK_SECRET,
  getWorkflow,
  showFile,
  startChain,
  TG_HOOK_SECRET,
} from './e2e-harness.ts';

let chain: Chain;
// Each test waits for an approval request and then a result (up to 60 s each on a loaded machine).
const TEST_MS = 180_000;

beforeAll(async () => {
  chain = await startChain({ repos: ['acme/widgets', 'acme/gadgets', 'acme/gizmos'], approve: 'git.push' });
});
afterAll(() => chain?.close());

const onRemote = (repo: string) => {
  try {
    return showFile(chain.bareRepo(repo), BRANCH, 'math.js').includes('return a + b;');
  } catch {
    return false;
  }
};

async function startOnTelegram(repo: string) {
  const { tg, worker } = chain;
  const update = tg.userMessage(alice, `fix the failing test in ${repo}`);
  const res = await tg.deliver(`${worker.url}/telegram`, TG_HOOK_SECRET, update);
  expect(res.status).toBe(200);
  const userMessageId = (update.message as { message_id: number }).message_id;
  const started = tg
    .botMessages(alice.id)
    .find((m) => m.reply_to_message_id === userMessageId && m.text.startsWith('Started'));
  const id = /\(ID: (wf_[a-z0-9]+)\)/.exec(started?.text ?? '')?.[1];
  expect(id).toBeDefined();
  await until(
    () => tg.botMessages(alice.id).some((m) => m.text.includes(`Task ${id} asks to run git`)),
    'the approval request',
    60_000,
  );
  const msg = tg.botMessages(alice.id).find((m) => m.text.includes(`Task ${id} asks to run git`))!;
  expect(msg.text).toContain('rule git.push');
  return { id: id!, msg };
}

describe('git.push under approval (Telegram)', () => {
  it(
    'the Allow button is what lets the push happen',
    async () => {
      const { tg, worker, gh, server } = chain;
      const { id, msg } = await startOnTelegram('acme/widgets');
      // Waiting for the decision: nothing pushed, no PR, the workflow still running.
      expect(onRemote('acme/widgets')).toBe(false);
      expect(gh.pulls('acme/widgets')).toHaveLength(0);
      expect((await getWorkflow(server, id)).status).toBe('running');

      const allow = msg.reply_markup!.inline_keyboard.flat().find((b) => b.text.includes('Allow'))!;
      const press = tg.pressButton(alice, alice.id, msg.message_id, allow.callback_data);
      expect((await tg.deliver(`${worker.url}/telegram`, TG_HOOK_SECRET, press)).status).toBe(200);
      expect(tg.answered.get((press.callback_query as { id: string }).id)).toBe('Allowed');

      await until(
        () => tg.botMessages(alice.id).some((m) => m.text.includes(`Task ${id} completed`)),
        'the result',
        60_000,
      );
      expect(onRemote('acme/widgets')).toBe(true);
      const pr = gh.pulls('acme/widgets');
      expect(pr).toHaveLength(1);
      const result = tg.botMessages(alice.id).find((m) => m.text.includes(`Task ${id} completed`))!;
      expect(result.text).toContain(`Pull request: ${pr[0]!.html_url}`);
    },
    TEST_MS,
  );

  it(
    'Deny keeps the branch off the remote',
    async () => {
      const { tg, worker, gh } = chain;
      const { id, msg } = await startOnTelegram('acme/gadgets');
      const deny = msg.reply_markup!.inline_keyboard.flat().find((b) => b.text.includes('Deny'))!;
      const press = tg.pressButton(alice, alice.id, msg.message_id, deny.callback_data);
      expect((await tg.deliver(`${worker.url}/telegram`, TG_HOOK_SECRET, press)).status).toBe(200);
      await until(
        () => tg.botMessages(alice.id).some((m) => new RegExp(`Task ${id} (completed|failed)`).test(m.text)),
        'the result',
        60_000,
      );
      expect(onRemote('acme/gadgets')).toBe(false);
      expect(gh.pulls('acme/gadgets')).toHaveLength(0);
    },
    TEST_MS,
  );
});

describe('git.push under approval (GitHub)', () => {
  it(
    '"@duyetbot approve" in the issue lets the push happen',
    async () => {
      const { gh, worker } = chain;
      const hook = `${worker.url}/github`;
      const base = { repo: 'acme/gizmos', issue: 7, login: 'alice', association: 'OWNER' as const };
      expect(
        (await gh.sendIssueComment(hook, GH_HOOK_SECRET, { ...base, body: '@duyetbot fix the failing test' }))
          .status,
      ).toBe(200);
      await until(
        () => gh.comments('acme/gizmos', 7).some((c) => c.body.includes('asks to run git')),
        'the approval comment',
        60_000,
      );
      expect(onRemote('acme/gizmos')).toBe(false);
      expect(
        (await gh.sendIssueComment(hook, GH_HOOK_SECRET, { ...base, body: '@duyetbot approve' })).status,
      ).toBe(200);
      await until(
        () => gh.comments('acme/gizmos', 7).some((c) => c.body.includes('Pull request:')),
        'the result comment',
        60_000,
      );
      expect(onRemote('acme/gizmos')).toBe(true);
    },
    TEST_MS,
  );
});
