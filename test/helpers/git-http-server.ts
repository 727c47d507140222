// A real authenticated smart-HTTP git server on loopback: `git http-backend` (CGI) behind a small
// node HTTP server that demands Basic auth with one of the accepted tokens as the password (as
// GitHub does: `x-access-token:<token>`). Receive-pack is on (REMOTE_USER is set for authenticated
// requests). Repositories live under `root` as `<owner>/<name>.git`.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface GitHttpRequest {
  method: string;
  path: string;
  service?: string;
  authorization?: string;
  /** The password of a Basic header, if any. */
  password?: string;
  status: number;
}

export interface GitHttpServer {
  /** `http://127.0.0.1:<port>`: the GITHUB_GIT_URL of a test. */
  url: string;
  root: string;
  requests: GitHttpRequest[];
  /** Tokens accepted as the Basic password (mutable). */
  tokens: Set<string>;
  /** Creates `<owner>/<name>.git` with one commit per file map, on `main`; returns its path. */
  createRepo(repo: string, files: Record<string, string>): string;
  /** `git` in the bare repository (assertions). */
  git(repo: string, ...args: string[]): string;
  close(): Promise<void>;
}

const GIT_ENV = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'fixture',
  GIT_AUTHOR_EMAIL: 'fixture@example.com',
  GIT_COMMITTER_NAME: 'fixture',
  GIT_COMMITTER_EMAIL: 'fixture@example.com',
};

export async function startGitHttpServer(root: string, tokens: string[]): Promise<GitHttpServer> {
  const requests: GitHttpRequest[] = [];
  const accepted = new Set(tokens);
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const rec: GitHttpRequest = {
      method: req.method ?? '',
      path: u.pathname,
      service: u.searchParams.get('service') ?? (u.pathname.match(/(git-[a-z-]+)$/)?.[1] || undefined),
      authorization: req.headers.authorization,
      status: 0,
    };
    requests.push(rec);
    const basic = /^Basic (\S+)$/i.exec(req.headers.authorization ?? '');
    const password = basic
      ? Buffer.from(basic[1]!, 'base64').toString().split(':').slice(1).join(':')
      : undefined;
    rec.password = password;
    if (!password || !accepted.has(password)) {
      rec.status = 401;
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test git"', 'content-type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    const cgi = spawn('git', ['http-backend'], {
      env: {
        ...GIT_ENV,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: u.pathname,
        QUERY_STRING: u.search.replace(/^\?/, ''),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: 'x-access-token',
        REMOTE_ADDR: '127.0.0.1',
        ...(req.headers['content-encoding']
          ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] }
          : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    req.pipe(cgi.stdin);
    cgi.stdin.on('error', () => {});
    let head = Buffer.alloc(0);
    let started = false;
    cgi.stdout.on('data', (d: Buffer) => {
      if (started) return void res.write(d);
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      started = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const i = line.indexOf(':');
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10);
        else headers[k] = v;
      }
      rec.status = status;
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    cgi.on('close', () => {
      if (!started) {
        rec.status = 500;
        res.writeHead(500).end();
      } else res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const git = (repo: string, ...args: string[]) =>
    execFileSync('git', ['--git-dir', path.join(root, `${repo}.git`), ...args], {
      env: GIT_ENV,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    root,
    requests,
    tokens: accepted,
    git,
    createRepo(repo, files) {
      const bare = path.join(root, `${repo}.git`);
      const work = fs.mkdtempSync(path.join(root, '.work-'));
      const g = (cwd: string, ...args: string[]) =>
        execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' });
      g(work, 'init', '-q', '-b', 'main');
      for (const [name, content] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(work, name)), { recursive: true });
        fs.writeFileSync(path.join(work, name), content);
      }
      g(work, 'add', '-A');
      g(work, 'commit', '-q', '-m', 'initial');
      fs.mkdirSync(path.dirname(bare), { recursive: true });
      g(root, 'clone', '-q', '--bare', work, bare);
      fs.rmSync(work, { recursive: true, force: true });
      return bare;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
