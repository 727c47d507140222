import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { noSandbox } from '../../src/sandbox/types.ts';
import { createGhTool, parseGitHubRemote } from '../../src/tools/gh.ts';
import { createTools } from '../../src/tools/index.ts';
import { type Fixture, makeFixture, run } from './helpers.ts';

const TOKEN = 'ghp_testtoken_0123456789abcdef';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

// A tiny imitation of the GitHub REST endpoints the tool uses.
let server: http.Server;
let apiUrl: string;
let seen: Seen[] = [];
let override: ((req: Seen, res: http.ServerResponse) => boolean) | undefined;

function send(res: http.ServerResponse, status: number, data: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(data));
}

const PR = {
  number: 42,
  title: 'Add widgets',
  state: 'open',
  draft: false,
  merged_at: null,
  user: { login: 'duyetbot' },
  head: { ref: 'feature/x' },
  base: { ref: 'main' },
  html_url: 'https://github.com/acme/widgets/pull/42',
  body: 'Adds the widgets.',
  mergeable: true,
  comments: 1,
};

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const s: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: raw ? JSON.parse(raw) : undefined,
      };
      seen.push(s);
      if (override?.(s, res)) return;
      // GitHub accepts both header forms for a token.
      if (req.headers.authorization !== `Bearer ${TOKEN}` && req.headers.authorization !== `token ${TOKEN}`) {
        return send(res, 401, {
          message: 'Bad credentials',
          documentation_url: 'https://docs.github.com/rest',
        });
      }
      const u = new URL(s.url, 'http://x');
      if (s.method === 'GET' && u.pathname === '/repos/acme/widgets')
        return send(res, 200, { full_name: 'acme/widgets', default_branch: 'main' });
      if (s.method === 'POST' && u.pathname === '/repos/acme/widgets/pulls') {
        const b = s.body as { title: string; head: string; base: string };
        return send(res, 201, { ...PR, title: b.title, head: { ref: b.head }, base: { ref: b.base } });
      }
      if (s.method === 'GET' && u.pathname === '/repos/acme/widgets/pulls') {
        if (u.searchParams.get('head') === 'acme:feature/x') return send(res, 200, [PR]);
        if (u.searchParams.get('head')) return send(res, 200, []);
        return send(res, 200, [
          PR,
          { ...PR, number: 7, title: 'Older', state: 'closed', merged_at: '2024-01-01T00:00:00Z' },
        ]);
      }
      if (s.method === 'GET' && u.pathname === '/repos/acme/widgets/pulls/42') return send(res, 200, PR);
      if (s.method === 'GET' && u.pathname === '/repos/acme/widgets/issues/5') {
        return send(res, 200, {
          number: 5,
          title: 'Broken thing',
          state: 'open',
          user: { login: 'alice' },
          labels: [{ name: 'bug' }],
          html_url: 'https://github.com/acme/widgets/issues/5',
          body: 'It breaks.',
          comments: 1,
        });
      }
      if (s.method === 'GET' && u.pathname === '/repos/acme/widgets/issues/5/comments') {
        return send(res, 200, [
          { user: { login: 'bob' }, created_at: '2024-01-02T00:00:00Z', body: 'Same here.' },
        ]);
      }
      const m = /^\/repos\/acme\/widgets\/issues\/(\d+)\/comments$/.exec(u.pathname);
      if (s.method === 'POST' && m) {
        return send(res, 201, {
          id: 900,
          html_url: `https://github.com/acme/widgets/issues/${m[1]}#issuecomment-900`,
        });
      }
      send(res, 404, { message: 'Not Found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

let fx: Fixture;
beforeEach(async () => {
  seen = [];
  override = undefined;
  fx = await makeFixture({ GITHUB_TOKEN: TOKEN, GITHUB_API_URL: apiUrl });
});
afterEach(() => fx.cleanup());
async function refix(env: Record<string, string>): Promise<void> {
  await fx.cleanup();
  fx = await makeFixture(env);
}

const GIT_ENV = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

function initRepo(remote: string, branch = 'feature/x'): void {
  git(fx.workspace, 'init', '-q', '-b', branch);
  git(fx.workspace, 'remote', 'add', 'origin', remote);
}

const gh = (input: Record<string, unknown>) =>
  run(createGhTool({ config: fx.config, sandbox: noSandbox }), input, fx.ctx);
const errCode = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'no-throw';
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

describe('parseGitHubRemote', () => {
  it('parses https, scp-like and ssh:// remotes', () => {
    const want = { host: 'github.com', repo: 'o/r' };
    expect(parseGitHubRemote('https://github.com/o/r')).toEqual(want);
    expect(parseGitHubRemote('https://github.com/o/r.git')).toEqual(want);
    expect(parseGitHubRemote('https://x-access-token:abc@github.com/o/r.git/')).toEqual(want);
    expect(parseGitHubRemote('git@github.com:o/r.git')).toEqual(want);
    expect(parseGitHubRemote('git@github.com:o/r')).toEqual(want);
    expect(parseGitHubRemote('ssh://git@github.com/o/r')).toEqual(want);
    expect(parseGitHubRemote('ssh://git@github.com:22/o/r.git')).toEqual(want);
    expect(parseGitHubRemote('/tmp/some/path')).toBeUndefined();
    expect(parseGitHubRemote('https://github.com/o')).toBeUndefined();
    expect(parseGitHubRemote('file:///tmp/o/r')).toBeUndefined();
  });
});

describe('gh tool', () => {
  it('is part of createTools', () => {
    const names = createTools({ config: fx.config, sandbox: noSandbox }).map((t) => t.name);
    expect(names).toContain('gh');
  });

  it('creates a pull request with repo, head and base from the workspace repository', async () => {
    initRepo('https://github.com/acme/widgets.git');
    const r = await gh({ operation: 'pr_create', title: 'Add widgets', body: 'Adds the widgets.' });
    expect(r.isError).toBe(false);
    expect(r.meta).toMatchObject({
      pullRequest: { url: 'https://github.com/acme/widgets/pull/42', number: 42 },
    });
    expect(r.output).toContain('https://github.com/acme/widgets/pull/42');

    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /repos/acme/widgets',
      'POST /repos/acme/widgets/pulls',
    ]);
    const post = seen[1]!;
    expect(post.headers.authorization).toBe(`token ${TOKEN}`);
    expect(post.headers.accept).toBe('application/vnd.github+json');
    expect(post.headers['x-github-api-version']).toBe('2022-11-28');
    expect(post.headers['user-agent']).toBeTruthy();
    expect(post.headers['content-type']).toMatch(/^application\/json/);
    expect(post.body).toEqual({
      title: 'Add widgets',
      head: 'feature/x',
      base: 'main',
      body: 'Adds the widgets.',
    });
    // The token never appears in what the model sees, nor in the workspace's env.
    expect(JSON.stringify(r)).not.toContain(TOKEN);
    expect(JSON.stringify(fx.ctx.env)).not.toContain(TOKEN);
  });

  it('parses scp-like and ssh:// origin remotes and honours explicit head/base/draft', async () => {
    initRepo('git@github.com:acme/widgets.git', 'main');
    const r = await gh({ operation: 'pr_create', title: 'T', head: 'topic', base: 'develop', draft: true });
    expect(r.isError).toBe(false);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /repos/acme/widgets/pulls']);
    expect(seen[0]!.body).toEqual({ title: 'T', head: 'topic', base: 'develop', body: '', draft: true });

    git(fx.workspace, 'remote', 'set-url', 'origin', 'ssh://git@github.com/acme/widgets');
    seen = [];
    const list = await gh({ operation: 'pr_list' });
    expect(list.isError).toBe(false);
    expect(seen[0]!.url).toBe('/repos/acme/widgets/pulls?state=open&per_page=30');
  });

  it('views and lists pull requests', async () => {
    const view = await gh({ operation: 'pr_view', repo: 'acme/widgets', number: 42 });
    expect(view.isError).toBe(false);
    expect(view.output).toContain('#42 Add widgets');
    expect(view.output).toContain('feature/x → main');
    expect(view.output).toContain('Adds the widgets.');
    expect(view.meta).toBeUndefined();

    const list = await gh({ operation: 'pr_list', repo: 'acme/widgets', state: 'all', limit: 5 });
    expect(list.isError).toBe(false);
    expect(seen.at(-1)!.url).toBe('/repos/acme/widgets/pulls?state=all&per_page=5');
    expect(list.output.split('\n')).toHaveLength(2);
    expect(list.output).toContain('#7 Older [merged]');
  });

  it('finds the open pull request of the current branch for pr_view and pr_comment', async () => {
    initRepo('https://github.com/acme/widgets');
    const view = await gh({ operation: 'pr_view' });
    expect(view.isError).toBe(false);
    expect(view.output).toContain('#42 Add widgets');
    expect(seen[0]!.url).toBe('/repos/acme/widgets/pulls?head=acme%3Afeature%2Fx&state=open&per_page=1');

    seen = [];
    const c = await gh({ operation: 'pr_comment', body: 'LGTM' });
    expect(c.isError).toBe(false);
    expect(seen.at(-1)).toMatchObject({
      method: 'POST',
      url: '/repos/acme/widgets/issues/42/comments',
      body: { body: 'LGTM' },
    });

    git(fx.workspace, 'checkout', '-q', '-b', 'nopr');
    expect(await errCode(gh({ operation: 'pr_view' }))).toBe('not_found');
  });

  it('comments on issues and views them with their comments', async () => {
    const c = await gh({ operation: 'issue_comment', repo: 'acme/widgets', number: 5, body: 'On it.' });
    expect(c.isError).toBe(false);
    expect(c.output).toContain('issuecomment-900');
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: '/repos/acme/widgets/issues/5/comments',
      body: { body: 'On it.' },
    });
    expect(c.meta).toMatchObject({ comment: { number: 5 } });

    const v = await gh({ operation: 'issue_view', repo: 'acme/widgets', number: 5 });
    expect(v.isError).toBe(false);
    expect(v.output).toContain('#5 Broken thing');
    expect(v.output).toContain('Labels: bug');
    expect(v.output).toContain('bob');
    expect(v.output).toContain('Same here.');

    expect(await errCode(gh({ operation: 'issue_comment', repo: 'acme/widgets', number: 5 }))).toBe(
      'invalid_input',
    );
    expect(await errCode(gh({ operation: 'issue_view', repo: 'acme/widgets' }))).toBe('invalid_input');
    expect(await errCode(gh({ operation: 'pr_create', repo: 'acme/widgets', head: 'x', base: 'main' }))).toBe(
      'invalid_input',
    );
    for (const repo of ['../etc', 'a/..', './b', 'a/.', 'a/b/c', 'a b/c']) {
      expect(await errCode(gh({ operation: 'pr_view', repo, number: 1 }))).toBe('invalid_input');
    }
    expect(seen).toHaveLength(3);
  });

  it("surfaces a 422 validation error with GitHub's message, scrubbed of the token", async () => {
    override = (s, res) => {
      if (s.method !== 'POST') return false;
      send(res, 422, {
        message: `Validation Failed (token ${TOKEN})`,
        errors: [
          {
            resource: 'PullRequest',
            code: 'custom',
            message: 'A pull request already exists for acme:feature/x.',
          },
        ],
      });
      return true;
    };
    const r = await gh({
      operation: 'pr_create',
      repo: 'acme/widgets',
      title: 'T',
      head: 'feature/x',
      base: 'main',
    });
    expect(r.isError).toBe(true);
    expect(r.output).toContain('422');
    expect(r.output).toContain('Validation Failed');
    expect(r.output).toContain('A pull request already exists for acme:feature/x.');
    expect(r.output).not.toContain(TOKEN);
    expect(r.meta).toBeUndefined();
  });

  it('reports a rejected token (401)', async () => {
    await refix({ GITHUB_TOKEN: 'wrong-token', GITHUB_API_URL: apiUrl });
    const r = await gh({ operation: 'pr_view', repo: 'acme/widgets', number: 42 });
    expect(r.isError).toBe(true);
    expect(r.output).toContain('401');
    expect(r.output).toContain('Bad credentials');
    expect(r.output).not.toContain('wrong-token');
  });

  it('refuses clearly without a token and without contacting GitHub', async () => {
    await refix({ GITHUB_API_URL: apiUrl });
    const r = await gh({ operation: 'pr_list', repo: 'acme/widgets' });
    expect(r.isError).toBe(true);
    expect(r.output).toContain('No GitHub credentials are configured');
    expect(seen).toHaveLength(0);
  });

  it('needs "repo" when the workspace has no GitHub origin', async () => {
    expect(await errCode(gh({ operation: 'pr_list' }))).toBe('no_repository');
    initRepo('https://gitlab.example.com/a/b/c.git');
    expect(await errCode(gh({ operation: 'pr_list' }))).toBe('no_repository');
    expect(seen).toHaveLength(0);
  });

  it('reports network failures and honours the abort signal', async () => {
    override = () => true; // never answers
    const ac = new AbortController();
    const p = run(
      createGhTool({ config: fx.config, sandbox: noSandbox }),
      { operation: 'pr_list', repo: 'acme/widgets' },
      {
        ...fx.ctx,
        signal: ac.signal,
      },
    );
    setTimeout(() => ac.abort(), 100);
    expect(await errCode(p)).toBe('aborted');

    await refix({ GITHUB_TOKEN: TOKEN, GITHUB_API_URL: 'http://127.0.0.1:1' });
    const r = await gh({ operation: 'pr_list', repo: 'acme/widgets' });
    expect(r.isError).toBe(true);
    expect(r.output).toContain('network error');
  });
});
