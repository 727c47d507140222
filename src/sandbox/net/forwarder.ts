// The forwarder that runs INSIDE a network-enabled sandbox (plain CommonJS, executed by node).

/**
 * `node netfwd.cjs serve <socket> [--mirror <port,…>] <cmd> [args…]`: listens on 127.0.0.1 (the
 * sandbox's own loopback), forwards each connection to the egress proxy's unix socket, runs the
 * command with proxy variables set, and exits with its status. `--mirror` also listens on each
 * given 127.0.0.1:<port> and tunnels it to the same port on the host's loopback (only ports the
 * proxy was told to allow).
 * `node netfwd.cjs connect <socket> <host> <port>`: an ssh ProxyCommand (CONNECT over the socket,
 * then stdin/stdout).
 */
export const FORWARDER_SOURCE = `'use strict';
const net = require('node:net');
const { spawn } = require('node:child_process');
const os = require('node:os');
const [mode, sock, ...rest] = process.argv.slice(2);
if (mode === 'connect') {
  const [host, port] = rest;
  const u = net.connect(sock);
  let head = Buffer.alloc(0);
  let open = false;
  u.on('error', (e) => { process.stderr.write('sandbox egress: ' + e.message + '\\n'); process.exit(1); });
  u.on('connect', () => u.write('CONNECT ' + (host.includes(':') ? '[' + host + ']' : host) + ':' + port + ' HTTP/1.1\\r\\nHost: ' + host + ':' + port + '\\r\\n\\r\\n'));
  u.on('data', (d) => {
    if (open) return;
    head = Buffer.concat([head, d]);
    const end = head.indexOf('\\r\\n\\r\\n');
    if (end === -1) return;
    const status = head.subarray(0, end).toString('latin1');
    if (!/^HTTP\\/1\\.[01] 200/.test(status)) {
      const body = head.toString('latin1').split('\\r\\n\\r\\n').slice(1).join('').trim();
      process.stderr.write((body || 'sandbox egress refused: ' + status.split('\\r\\n')[0]) + '\\n');
      process.exit(1);
    }
    open = true;
    const extra = head.subarray(end + 4);
    if (extra.length) process.stdout.write(extra);
    u.pipe(process.stdout);
    process.stdin.pipe(u);
  });
  u.on('close', () => process.exit(0));
} else if (mode === 'serve') {
  // Host loopback services mirrored at the same 127.0.0.1:<port> inside (e.g. the LLM proxy).
  let mirrors = [];
  if (rest[0] === '--mirror') {
    mirrors = rest[1].split(',').map(Number).filter((p) => p > 0 && p < 65536);
    rest.splice(0, 2);
  }
  const tunnel = (c, target) => {
    const u = net.connect(sock);
    let head = Buffer.alloc(0);
    let open = false;
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
    c.on('close', () => u.destroy());
    u.on('close', (hadError) => { if (hadError || !open) c.destroy(); });
    c.pause();
    u.on('connect', () => u.write('CONNECT ' + target + ' HTTP/1.1\\r\\nHost: ' + target + '\\r\\n\\r\\n'));
    u.on('data', (d) => {
      if (open) return;
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\\r\\n\\r\\n');
      if (end === -1) return;
      if (!/^HTTP\\/1\\.[01] 200/.test(head.subarray(0, end).toString('latin1'))) return c.destroy();
      open = true;
      const extra = head.subarray(end + 4);
      if (extra.length) c.write(extra);
      u.pipe(c);
      c.pipe(u);
      c.resume();
    });
  };
  const servers = [];
  const listen = (port, onConn) => new Promise((resolve, reject) => {
    const srv = net.createServer(onConn);
    servers.push(srv);
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv.address().port));
  });
  Promise.all([
    listen(0, (c) => {
      const u = net.connect(sock);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
      c.pipe(u);
      u.pipe(c);
    }),
    ...mirrors.map((p) => listen(p, (c) => tunnel(c, '127.0.0.1:' + p))),
  ]).then(([port]) => {
    const url = 'http://127.0.0.1:' + port;
    const env = Object.assign({}, process.env, {
      HTTPS_PROXY: url, https_proxy: url, HTTP_PROXY: url, http_proxy: url, ALL_PROXY: url, all_proxy: url,
      NO_PROXY: 'localhost,127.0.0.1,::1', no_proxy: 'localhost,127.0.0.1,::1',
      NODE_USE_ENV_PROXY: '1',
      GIT_SSH_COMMAND: 'ssh -o BatchMode=yes -o ProxyCommand="' + process.execPath + ' ' + __filename + ' connect ' + sock + ' %h %p"',
    });
    const child = spawn(rest[0], rest.slice(1), { stdio: 'inherit', env });
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => child.kill(s));
    child.on('error', (e) => { process.stderr.write(rest[0] + ': ' + e.message + '\\n'); process.exit(127); });
    child.on('exit', (code, sig) => {
      for (const srv of servers) srv.close();
      if (sig) process.exit(128 + (os.constants.signals[sig] || 1));
      process.exit(code === null ? 1 : code);
    });
  }, (e) => { process.stderr.write('sandbox network forwarder: ' + e.message + '\\n'); process.exit(126); });
} else {
  process.stderr.write('netfwd: unknown mode\\n');
  process.exit(2);
}
`;
