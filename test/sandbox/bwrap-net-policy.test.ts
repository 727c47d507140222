import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { refusedAddressReason } from '../../src/net/address.ts';
import {
  checkHostName,
  type EgressProxy,
  parseAllowList,
  parseAuthority,
  policyFor,
  resolveDestination,
  startEgressProxy,
} from '../../src/sandbox/net/policy.ts';

describe('refused address ranges', () => {
  it.each([
    '127.0.0.1',
    '127.255.255.254',
    '10.0.0.1',
    '10.255.1.2',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '169.254.0.1',
    '100.64.0.1',
    '100.100.100.200',
    '0.0.0.0',
    '0.1.2.3',
    '224.0.0.1',
    '239.255.255.250',
    '255.255.255.255',
    '240.0.0.1',
    '192.0.0.192',
    '198.18.0.1',
    '::',
    '::1',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
    '::ffff:7f00:1',
    '64:ff9b::a00:1',
    '2002:7f00:1::',
    '2002:a9fe:a9fe::1',
    'fd00:ec2::254',
    'fc00::1',
    'fe80::1',
    'fe80::1%eth0',
    'ff02::1',
    '2001::1',
    '2001:db8::1',
    '::127.0.0.1',
  ])('refuses %s', (ip) => {
    expect(refusedAddressReason(ip)).not.toBeNull();
  });

  it.each([
    '1.1.1.1',
    '8.8.8.8',
    '140.82.112.3',
    '104.16.0.1',
    '172.32.0.1',
    '100.128.0.1',
    '169.255.0.1',
    '2606:4700::1111',
    '::ffff:8.8.8.8',
    '2a00:1450:4001::1',
  ])('allows public %s', (ip) => {
    expect(refusedAddressReason(ip)).toBeNull();
  });

  it('refuses non-addresses', () => {
    expect(refusedAddressReason('example.com')).not.toBeNull();
    expect(refusedAddressReason('')).not.toBeNull();
  });
});

describe('allowlist', () => {
  it('parses hosts, domains, subdomain wildcards, ports and *', () => {
    const p = parseAllowList([
      'registry.npmjs.org',
      '.github.com',
      '*.pypi.org',
      'git.example.com:8443',
      '*',
      ' ',
    ]);
    expect(p.anyHost).toBe(true);
    expect(p.rules).toEqual([
      { host: 'registry.npmjs.org', match: 'exact' },
      { host: 'github.com', match: 'domain' },
      { host: 'pypi.org', match: 'subdomains' },
      { host: 'git.example.com', match: 'exact', port: 8443 },
    ]);
    expect(() => parseAllowList(['bad host'])).toThrow();
    expect(() => parseAllowList(['x.com:99999'])).toThrow();
    expect(() => parseAllowList(['*.'])).toThrow();
  });

  it('matches names and ports', () => {
    const p = parseAllowList(['registry.npmjs.org', '.github.com', '*.pypi.org', 'git.example.com:8443']);
    expect(checkHostName('registry.npmjs.org', 443, p).ok).toBe(true);
    expect(checkHostName('REGISTRY.NPMJS.ORG.', 443, p).ok).toBe(true);
    expect(checkHostName('evil-registry.npmjs.org', 443, p).ok).toBe(false);
    expect(checkHostName('npmjs.org', 443, p).ok).toBe(false);
    expect(checkHostName('github.com', 22, p).ok).toBe(true);
    expect(checkHostName('api.github.com', 443, p).ok).toBe(true);
    expect(checkHostName('github.com.evil.io', 443, p).ok).toBe(false);
    expect(checkHostName('files.pypi.org', 443, p).ok).toBe(true);
    expect(checkHostName('pypi.org', 443, p).ok).toBe(false);
    expect(checkHostName('registry.npmjs.org', 6379, p).ok).toBe(false);
    expect(checkHostName('git.example.com', 8443, p).ok).toBe(true);
    expect(checkHostName('git.example.com', 443, p).ok).toBe(false);
  });

  it('never allows local or metadata names, or private IPs, even when listed', () => {
    const p = parseAllowList(['localhost', 'metadata.google.internal', '10.0.0.5', '127.0.0.1', '*']);
    for (const h of [
      'localhost',
      'foo.localhost',
      'metadata.google.internal',
      'printer.local',
      'metadata',
      '10.0.0.5',
      '127.0.0.1',
      '169.254.169.254',
      '[::1]',
    ]) {
      expect(checkHostName(h, 443, p), h).toMatchObject({ ok: false });
    }
  });

  it('an empty list means any public host (for processes that asked for network)', () => {
    expect(policyFor([]).anyHost).toBe(true);
    expect(policyFor(['github.com']).anyHost).toBe(false);
    expect(checkHostName('example.org', 443, policyFor([])).ok).toBe(true);
    expect(checkHostName('example.org', 25, policyFor([])).ok).toBe(false);
    expect(checkHostName('192.168.0.1', 443, policyFor([])).ok).toBe(false);
  });

  it('parses CONNECT authorities', () => {
    expect(parseAuthority('github.com:443')).toEqual({ host: 'github.com', port: 443 });
    expect(parseAuthority('[::1]:22')).toEqual({ host: '::1', port: 22 });
    expect(parseAuthority('github.com')).toBeNull();
    expect(parseAuthority('a b:1')).toBeNull();
  });
});

describe('resolution', () => {
  it('refuses a listed name that resolves to a private address (DNS rebinding / internal names)', async () => {
    const p = parseAllowList(['.example.com']);
    const lookup = async (h: string) =>
      ({
        'ok.example.com': ['93.184.216.34'],
        'meta.example.com': ['93.184.216.34', '169.254.169.254'],
        'lo.example.com': ['::1'],
      })[h] ?? [];
    expect(await resolveDestination('ok.example.com', 443, p, lookup)).toEqual({
      ok: true,
      address: '93.184.216.34',
      host: 'ok.example.com',
      port: 443,
    });
    expect(await resolveDestination('meta.example.com', 443, p, lookup)).toMatchObject({ ok: false });
    expect(await resolveDestination('lo.example.com', 443, p, lookup)).toMatchObject({ ok: false });
    expect(await resolveDestination('none.example.com', 443, p, lookup)).toMatchObject({ ok: false });
    expect(await resolveDestination('other.org', 443, p, lookup)).toMatchObject({ ok: false });
    const slow = () => new Promise<string[]>(() => {});
    expect(await resolveDestination('ok.example.com', 443, p, slow, 50)).toMatchObject({
      ok: false,
      reason: /timed out/,
    });
  });
});

describe('egress proxy', () => {
  let proxy: EgressProxy | undefined;
  let dir = '';
  const servers: net.Server[] = [];
  afterEach(async () => {
    await proxy?.close();
    for (const s of servers) s.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function connectVia(sock: string, authority: string): Promise<{ head: string; sock: net.Socket }> {
    const c = net.connect(sock);
    c.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    let buf = '';
    return new Promise((resolve, reject) => {
      const onData = (d: Buffer) => {
        buf += d.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        if (end !== -1) {
          c.off('data', onData);
          resolve({ head: buf, sock: c });
        }
      };
      c.on('data', onData);
      c.on('error', reject);
    });
  }

  it('tunnels to allowed hosts (to the checked address only) and refuses the rest', async () => {
    dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'egress-')));
    const echo = net.createServer((s) => s.pipe(s));
    servers.push(echo);
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const echoPort = (echo.address() as net.AddressInfo).port;
    const dialed: string[] = [];
    proxy = await startEgressProxy({
      socketPath: path.join(dir, 'p.sock'),
      policy: parseAllowList(['registry.example.com', 'evil.example.com']),
      lookup: async (h) => (h === 'registry.example.com' ? ['93.184.216.34'] : ['169.254.169.254']),
      dial: (address, port) => {
        dialed.push(`${address}:${port}`);
        return net.connect({ host: '127.0.0.1', port: echoPort });
      },
    });
    const ok = await connectVia(proxy.socketPath, 'registry.example.com:443');
    expect(ok.head).toMatch(/^HTTP\/1\.1 200/);
    ok.sock.write('ping');
    const echoed = await new Promise<string>((r) => ok.sock.once('data', (d) => r(d.toString())));
    expect(echoed).toBe('ping');
    ok.sock.destroy();
    expect(dialed).toEqual(['93.184.216.34:443']);

    for (const target of [
      'evil.example.com:443',
      'other.example.com:443',
      '127.0.0.1:3003',
      '169.254.169.254:80',
      '[::1]:443',
      '10.0.0.1:443',
    ]) {
      const r = await connectVia(proxy.socketPath, target);
      expect(r.head, target).toMatch(/^HTTP\/1\.1 403/);
      r.sock.destroy();
    }
    expect(dialed).toHaveLength(1);

    const get = net.connect(proxy.socketPath);
    get.write('GET http://127.0.0.1:3003/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const resp = await new Promise<string>((r) => get.once('data', (d) => r(d.toString())));
    expect(resp).toMatch(/^HTTP\/1\.1 405/);
    expect(proxy.stats).toMatchObject({ allowed: 1, refused: 7 });
  });

  it('caps the tunnels of one gate (one session) without touching another, and closes idle tunnels', async () => {
    dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'egress-')));
    const echo = net.createServer((s) => s.pipe(s));
    servers.push(echo);
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const echoPort = (echo.address() as net.AddressInfo).port;
    const common = {
      policy: parseAllowList(['registry.example.com']),
      lookup: async () => ['93.184.216.34'],
      dial: () => net.connect({ host: '127.0.0.1', port: echoPort }),
      maxTunnels: 2,
    };
    const a = await startEgressProxy({ ...common, socketPath: path.join(dir, 'a.sock') });
    const b = await startEgressProxy({ ...common, socketPath: path.join(dir, 'b.sock'), idleTimeoutMs: 300 });
    try {
      const held = [
        await connectVia(a.socketPath, 'registry.example.com:443'),
        await connectVia(a.socketPath, 'registry.example.com:443'),
      ];
      for (const h of held) expect(h.head).toMatch(/^HTTP\/1\.1 200/);
      const third = await connectVia(a.socketPath, 'registry.example.com:443');
      expect(third.head).toMatch(/^HTTP\/1\.1 503/);
      third.sock.destroy();
      expect(a.stats.overLimit).toBe(1);
      // Another session's gate still serves.
      const other = await connectVia(b.socketPath, 'registry.example.com:443');
      const closed = other.sock.destroyed
        ? Promise.resolve()
        : new Promise<void>((r) => other.sock.once('close', () => r()));
      expect(other.head).toMatch(/^HTTP\/1\.1 200/);
      // ...and closes the tunnel once it has been idle.
      await closed;
      expect(b.stats.idleClosed).toBe(1);
      for (const h of held) h.sock.destroy();
    } finally {
      await a.close();
      await b.close();
    }
  });
});
