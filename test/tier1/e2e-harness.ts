// The whole Tier 1 → Tier 2 chain for the end-to-end tests: the real server (in-process, SQLite on
// disk, real git) on the mock LLM, the example Worker in workerd, a fake Telegram Bot API, and a fake
// GitHub whose repositories are bare git repositories on disk (the server clones them through
// REPO_URL_TEMPLATE = file://…, ALLOW_FILE_REPOS=true; the gh tool opens PRs on the fake API, which
// checks the pushed branch exists). The scripted agent fixes the fixture's bug on a branch, runs
// the test, commits, pushes and opens a pull request.
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { textsOf } from '../../src/mock-llm/helpers.ts';
import {
  createBugfixRepo,
  type MessagesRequest,
  type MockLlm,
  type Responder,
  scripted,
  textReply,
  toolCall,
} from '../../src/mock-llm/index.ts';
import { type FakeGitHub, startFakeGitHub } from '../helpers/fake-github.ts';
import { type FakeTelegram, startFakeTelegram, type TgUser } from '../helpers/fake-telegram.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { type TestServer, tempDir } from '../helpers/server.ts';
import { type RunningWorker, startWorker } from './worker-harness.ts';

export const SECRET = 'e2e-signing-secret-0123456789';
export const API_KEY = 'e2e-api-key';
export const TG_HOOK_SECRET = 'tg-webhook-secret_e2e';
export const GH_HOOK_SECRET = 'gh-webhook-secret-e2e';
export const BRANCH = 'duyetbot/fix-add';
export const FINAL_TEXT = 'Fixed add() so the failing test passes, and opened a pull request.';
export const alice: TgUser = { id: 4242, first_name: 'Alice', username: 'alice' };

/** The scripted agent for `repo`: branch, read, fix, test, commit, push, open a PR, report. */
export function prScript(repo: string): Responder {
  return scripted([
    toolCall(
      'git',
      { operation: 'checkout', branch: BRANCH, create: true },
      { text: 'Working on a branch.' },
    ),
    toolCall('fs', { operation: 'read', path: 'math.js' }),
    toolCall('fs', {
      operation: 'edit',
      path: 'math.js',
      oldString: 'return a - b;',
      newString: 'return a + b;',
    }),
    toolCall('bash', { command: 'node test.js' }),
    toolCall('git', { operation: 'commit', message: 'Fix add() to return the sum', all: true }),
    toolCall('git', { operation: 'push' }),
    toolCall('gh', {
      operation: 'pr_create',
      repo,
      title: 'Fix add() to return the sum',
      body: 'The failing test in test.js passes now.',
      head: BRANCH,
      base: 'main',
    }),
    textReply(FINAL_TEXT, { stopReason: 'end_turn' }),
  ]);
}

/** The repository named in the conversation's first message (`acme/<name>`). */
function repoOf(req: MessagesRequest): string {
  const first = req.messages.find((m) => m.role === 'user');
  const text = first ? textsOf(first.content).join('\n') : '';
  return /\bacme\/[a-z]+\b/.exec(text)?.[0] ?? 'acme/unknown';
}

export interface Chain {
  server: TestServer;
  mock: MockLlm;
  worker: RunningWorker;
  tg: FakeTelegram;
  gh: FakeGitHub;
  root: string;
  bareRepo(repo: string): string;
  /** While set, every model request waits for it (a workflow provably still running). */
  hold: Promise<void> | undefined;
  close(): Promise<void>;
}

export async function startChain(opts: { repos: string[]; approve?: string }): Promise<Chain> {
  const root = await tempDir('tier1-e2e-');
  const tg = await startFakeTelegram();
  const gh = await startFakeGitHub();
  const bareRepo = (repo: string) => path.join(root, ...repo.split('/'), 'origin.git');
  for (const repo of opts.repos) {
    await createBugfixRepo(path.join(root, ...repo.split('/')));
    gh.addRepo(repo, bareRepo(repo), {
      7: { title: 'add() returns the difference', body: 'test.js fails: add(2, 3) is -1.' },
    });
  }
  const chain = { hold: undefined } as Chain;
  const responder: Responder = async (req, info) => {
    await chain.hold;
    return prScript(repoOf(req))(req, info);
  };
  const { mock, server } = await startMockedServer(
    { responder },
    {
      ANTHROPIC_API_KEY: 'k',
      API_KEYS: API_KEY,
      SIGNING_SECRET: SECRET,
      RATE_LIMIT_PER_MINUTE: '1000000',
      // The Worker listens on loopback here; in production its callback URL is public.
      CALLBACK_ALLOW_HOSTS: '127.0.0.1',
      GITHUB_TOKEN: gh.token,
      GITHUB_API_URL: gh.url,
      CALLBACK_RETRY_BASE_MS: '200',
    },
  );
  const worker = await startWorker({
    AGENT_SERVER_URL: server.url,
    SIGNING_SECRET: SECRET,
    TELEGRAM_BOT_TOKEN: tg.token,
    TELEGRAM_WEBHOOK_SECRET: TG_HOOK_SECRET,
    TELEGRAM_API_URL: tg.url,
    TELEGRAM_ALLOWED_USERS: String(alice.id),
    GITHUB_TOKEN: gh.token,
    GITHUB_WEBHOOK_SECRET: GH_HOOK_SECRET,
    GITHUB_API_URL: gh.url,
    BOT_LOGIN: gh.botLogin,
    REPO_URL_TEMPLATE: `file://${root}/{repo}/origin.git`,
    APPROVE: opts.approve ?? '',
  });
  gh.echoTo(`${worker.url}/github`, GH_HOOK_SECRET);
  return Object.assign(chain, {
    server,
    mock,
    worker,
    tg,
    gh,
    root,
    bareRepo,
    close: async () => {
      await worker.close();
      await closeMockedServer(server, mock);
      await tg.close();
      await gh.close();
      await rm(root, { recursive: true, force: true });
    },
  });
}

/** A file on a branch of a bare repository (what was really pushed). */
export function showFile(bareRepo: string, ref: string, file: string): string {
  return execFileSync('git', ['--git-dir', bareRepo, 'show', `${ref}:${file}`], { encoding: 'utf8' });
}

export async function getWorkflow(server: TestServer, id: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}/api/workflows/${id}`, {
    headers: { Authorization: `Bearer ${API_KEY}` },
  });
  return (await res.json()) as Record<string, unknown>;
}
