// A fake GitHub (REST API and webhook sender) on loopback for the Tier 1 tests, refusing what GitHub
// refuses: no or wrong token → 401 "Bad credentials"; no User-Agent → 403; unknown repository or
// issue → 404; an empty comment → 422; a pull request whose head branch is not in the repository
// (checked with git in the repository's bare clone), or equals the base, or already has an open PR
// → 422 "Validation Failed". Webhooks are signed like GitHub's (X-Hub-Signature-256 = HMAC-SHA256 of
// the body with the webhook secret, X-GitHub-Event, X-GitHub-Delivery) and, as on GitHub, a comment
// the bot posts through the API is itself delivered as an issue_comment webhook (`echoTo`).
import { execFileSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GhComment {
  id: number;
  body: string;
  user: { login: string; type: 'User' | 'Bot' };
  issue: number;
}

export interface GhPull {
  number: number;
  title: string;
  body: string;
  head: { ref: string; sha: string };
  base: { ref: string };
  html_url: string;
  state: 'open';
}

interface Repo {
  fullName: string;
  bareRepo: string;
  defaultBranch: string;
  issues: Map<number, { title: string; body: string }>;
  comments: GhComment[];
  pulls: GhPull[];
  nextNumber: number;
}

export interface IssueCommentOptions {
  repo: string;
  issue: number;
  body: string;
  login?: string;
  userType?: 'User' | 'Bot';
  association?: 'OWNER' | 'MEMBER' | 'COLLABORATOR' | 'CONTRIBUTOR' | 'NONE';
}

export interface FakeGitHub {
  url: string;
  token: string;
  botLogin: string;
  requests: Array<{ method: string; path: string; headers: http.IncomingHttpHeaders; body: unknown }>;
  /** Registers `owner/name` backed by a bare repository; `issues` by number. */
  addRepo(fullName: string, bareRepo: string, issues?: Record<number, { title: string; body: string }>): void;
  comments(fullName: string, issue?: number): GhComment[];
  pulls(fullName: string): GhPull[];
  /** Webhook deliveries GitHub would make for comments created through the API. */
  echoTo(webhookUrl: string, secret: string): void;
  /** Echo deliveries made so far, with the webhook's status. */
  echoes: Array<{ commentId: number; status: number }>;
  /** Posts an issue_comment "created" webhook as GitHub does; returns the webhook's answer. */
  sendIssueComment(webhookUrl: string, secret: string, o: IssueCommentOptions): Promise<Response>;
  /** The signed request GitHub would send, for tests that tamper with it. */
  issueCommentDelivery(
    secret: string,
    o: IssueCommentOptions,
  ): { headers: Record<string, string>; body: string };
  close(): Promise<void>;
}

const HTML = 'https://github.com';

function branchSha(bareRepo: string, branch: string): string | undefined {
  try {
    return execFileSync(
      'git',
      ['--git-dir', bareRepo, 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    ).trim();
  } catch {
    return undefined;
  }
}

export async function startFakeGitHub(
  token = 'ghp_fake_tier1_token_0123456789',
  botLogin = 'duyetbot',
): Promise<FakeGitHub> {
  const repos = new Map<string, Repo>();
  const requests: FakeGitHub['requests'] = [];
  const echoes: FakeGitHub['echoes'] = [];
  let echo: { url: string; secret: string } | undefined;
  let commentId = 9_000_000;

  function payloadFor(o: IssueCommentOptions, id: number): Record<string, unknown> {
    const r = repos.get(o.repo);
    if (!r) throw new Error(`unknown repo ${o.repo}`);
    const issue = r.issues.get(o.issue);
    if (!issue) throw new Error(`unknown issue ${o.repo}#${o.issue}`);
    const [owner, name] = o.repo.split('/');
    const login = o.login ?? 'alice';
    const user = { login, id: 1000 + login.length, type: o.userType ?? 'User' };
    return {
      action: 'created',
      issue: {
        number: o.issue,
        title: issue.title,
        body: issue.body,
        state: 'open',
        html_url: `${HTML}/${o.repo}/issues/${o.issue}`,
        user: { login: 'reporter', id: 7, type: 'User' },
      },
      comment: {
        id,
        body: o.body,
        user,
        author_association: o.association ?? 'OWNER',
        html_url: `${HTML}/${o.repo}/issues/${o.issue}#issuecomment-${id}`,
        created_at: new Date().toISOString(),
      },
      repository: {
        id: 4242,
        name,
        full_name: o.repo,
        private: false,
        owner: { login: owner, id: 42, type: 'Organization' },
        html_url: `${HTML}/${o.repo}`,
        clone_url: `${HTML}/${o.repo}.git`,
        default_branch: r.defaultBranch,
      },
      sender: user,
    };
  }

  function delivery(secret: string, payload: unknown) {
    const body = JSON.stringify(payload);
    const headers = {
      'Content-Type': 'application/json',
      'User-Agent': 'GitHub-Hookshot/fake',
      'X-GitHub-Event': 'issue_comment',
      'X-GitHub-Delivery': randomUUID(),
      'X-GitHub-Hook-ID': '1',
      'X-Hub-Signature': `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`,
      'X-Hub-Signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
    };
    return { headers, body };
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, data: unknown) =>
        res
          .writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
          .end(JSON.stringify(data));
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        return send(400, { message: 'Problems parsing JSON' });
      }
      const u = new URL(req.url ?? '/', 'http://x');
      requests.push({ method: req.method ?? '', path: u.pathname + u.search, headers: req.headers, body });
      if (!req.headers['user-agent'])
        return send(403, {
          message:
            'Request forbidden by administrative rules. Please make sure your request has a User-Agent header',
        });
      const auth = req.headers.authorization ?? '';
      if (auth !== `Bearer ${token}` && auth !== `token ${token}`)
        return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      const m = /^\/repos\/([^/]+\/[^/]+)(\/.*)?$/.exec(u.pathname);
      const repo = m ? repos.get(m[1]!) : undefined;
      if (!m || !repo) return send(404, { message: 'Not Found' });
      const rest = m[2] ?? '';
      const b = (body ?? {}) as Record<string, unknown>;

      if (req.method === 'GET' && rest === '')
        return send(200, { full_name: repo.fullName, default_branch: repo.defaultBranch, private: false });

      const comments = /^\/issues\/(\d+)\/comments$/.exec(rest);
      if (comments && req.method === 'POST') {
        const n = Number(comments[1]);
        if (!repo.issues.has(n) && !repo.pulls.some((p) => p.number === n))
          return send(404, { message: 'Not Found' });
        if (typeof b.body !== 'string' || b.body.trim() === '')
          return send(422, {
            message: 'Validation Failed',
            errors: [{ resource: 'IssueComment', code: 'missing_field', field: 'body' }],
          });
        const c: GhComment = {
          id: ++commentId,
          body: b.body,
          user: { login: botLogin, type: 'User' },
          issue: n,
        };
        repo.comments.push(c);
        send(201, {
          id: c.id,
          body: c.body,
          user: c.user,
          html_url: `${HTML}/${repo.fullName}/issues/${n}#issuecomment-${c.id}`,
        });
        if (echo && repo.issues.has(n)) {
          const target = echo;
          const d = delivery(
            target.secret,
            payloadFor(
              { repo: repo.fullName, issue: n, body: c.body, login: botLogin, association: 'NONE' },
              c.id,
            ),
          );
          void fetch(target.url, { method: 'POST', headers: d.headers, body: d.body })
            .then((r) => echoes.push({ commentId: c.id, status: r.status }))
            .catch(() => echoes.push({ commentId: c.id, status: 0 }));
        }
        return;
      }

      if (rest === '/pulls' && req.method === 'POST') {
        const invalid = (field: string, code = 'invalid', message?: string) =>
          send(422, {
            message: 'Validation Failed',
            errors: [{ resource: 'PullRequest', field, code, ...(message ? { message } : {}) }],
          });
        if (typeof b.title !== 'string' || !b.title.trim()) return invalid('title', 'missing_field');
        if (typeof b.head !== 'string' || typeof b.base !== 'string') return invalid('head', 'missing_field');
        const headRef = b.head.includes(':') ? b.head.split(':')[1]! : b.head;
        const headSha = branchSha(repo.bareRepo, headRef);
        if (!headSha) return invalid('head');
        if (!branchSha(repo.bareRepo, b.base)) return invalid('base');
        if (headRef === b.base || headSha === branchSha(repo.bareRepo, b.base))
          return invalid('head', 'custom', `No commits between ${b.base} and ${headRef}`);
        if (repo.pulls.some((p) => p.head.ref === headRef))
          return invalid(
            'head',
            'custom',
            `A pull request already exists for ${repo.fullName.split('/')[0]}:${headRef}.`,
          );
        const n = repo.nextNumber++;
        const pr: GhPull = {
          number: n,
          title: b.title,
          body: typeof b.body === 'string' ? b.body : '',
          head: { ref: headRef, sha: headSha },
          base: { ref: b.base },
          html_url: `${HTML}/${repo.fullName}/pull/${n}`,
          state: 'open',
        };
        repo.pulls.push(pr);
        return send(201, { ...pr, user: { login: botLogin }, draft: b.draft === true, merged_at: null });
      }
      if (rest === '/pulls' && req.method === 'GET') {
        const head = u.searchParams.get('head');
        const ref = head?.includes(':') ? head.split(':')[1] : head;
        return send(
          200,
          repo.pulls.filter((p) => !ref || p.head.ref === ref),
        );
      }
      const pull = /^\/pulls\/(\d+)$/.exec(rest);
      if (pull && req.method === 'GET') {
        const pr = repo.pulls.find((p) => p.number === Number(pull[1]));
        return pr ? send(200, pr) : send(404, { message: 'Not Found' });
      }
      send(404, { message: 'Not Found' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    token,
    botLogin,
    requests,
    echoes,
    addRepo(fullName, bareRepo, issues = {}) {
      const map = new Map(Object.entries(issues).map(([k, v]) => [Number(k), v]));
      const max = Math.max(0, ...map.keys());
      repos.set(fullName, {
        fullName,
        bareRepo,
        defaultBranch: 'main',
        issues: map,
        comments: [],
        pulls: [],
        nextNumber: max + 1,
      });
    },
    comments: (fullName, issue) =>
      (repos.get(fullName)?.comments ?? []).filter((c) => issue === undefined || c.issue === issue),
    pulls: (fullName) => repos.get(fullName)?.pulls ?? [],
    echoTo(webhookUrl, secret) {
      echo = { url: webhookUrl, secret };
    },
    issueCommentDelivery: (secret, o) => delivery(secret, payloadFor(o, ++commentId)),
    sendIssueComment(webhookUrl, secret, o) {
      const d = delivery(secret, payloadFor(o, ++commentId));
      return fetch(webhookUrl, { method: 'POST', headers: d.headers, body: d.body });
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
