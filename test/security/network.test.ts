// Network attacks from sandboxed processes: the cloud metadata service, the server's own loopback
// port and private addresses. With network off there is no route at all (nothing is sent); with
// network on (SANDBOX_NETWORK_ALLOW set) everything goes through the egress proxy, which refuses.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP, makeSecFixture, type SecFixture } from './helpers.ts';

/** A TCP listener on the host's loopback that records every connection it receives. */
let listener: net.Server;
let port = 0;
const accepted: string[] = [];
beforeAll(async () => {
  listener = net.createServer((s) => {
    accepted.push(`${s.remoteAddress}:${s.remotePort}`);
    s.end('HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nSERVER-SECRET');
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  port = (listener.address() as net.AddressInfo).port;
});
afterAll(() => listener.close());

const ATTACKS = (p: number) => [
  `curl -fsS -m 3 http://169.254.169.254/latest/meta-data/iam/security-credentials/ 2>&1; echo "curl-meta=$?"`,
  `curl -fsS -m 3 http://127.0.0.1:${p}/ 2>&1; echo "curl-lo=$?"`,
  `curl -fsS -m 3 https://127.0.0.1:${p}/ 2>&1; echo "curl-lo-tls=$?"`,
  `curl -fsS -m 3 http://10.11.12.13/ 2>&1; echo "curl-10=$?"`,
  `curl -fsS -m 3 --noproxy '*' http://127.0.0.1:${p}/ 2>&1; echo "curl-noproxy=$?"`,
  `(exec 3<>/dev/tcp/127.0.0.1/${p} && echo GET >&3 && cat <&3) 2>&1; echo "devtcp-lo=$?"`,
  `(exec 3<>/dev/tcp/169.254.169.254/80) 2>&1; echo "devtcp-meta=$?"`,
  `timeout 5 bash -c '(exec 3<>/dev/tcp/10.11.12.13/80)' 2>&1; echo "devtcp-10=$?"`,
  `node -e "fetch('http://127.0.0.1:${p}/').then(r => r.text()).then(t => console.log('GOT', t), e => console.log('fetch failed', e.cause?.code ?? e.message))"`,
  `node -e "fetch('http://169.254.169.254/').then(r => r.text()).then(t => console.log('GOT', t), e => console.log('fetch failed', e.cause?.code ?? e.message))"`,
];

function expectAllFailed(output: string): void {
  expect(output).not.toContain('SERVER-SECRET');
  expect(output).not.toMatch(/^GOT /m);
  for (const m of output.matchAll(/(curl-[a-z0-9-]+|devtcp-[a-z0-9-]+)=(\d+)/g)) {
    expect(Number(m[2]), m[1]).not.toBe(0);
  }
}

describe.skipIf(!HAS_BWRAP)('network: off (default for tools)', () => {
  let fx: SecFixture;
  beforeAll(async () => {
    fx = await makeSecFixture();
  });
  afterAll(() => fx?.cleanup());

  it('the metadata service, the host loopback and private addresses are unreachable; nothing is sent', async () => {
    accepted.length = 0;
    const r = await fx.bash(ATTACKS(port).join('\n'), 30_000);
    expectAllFailed(r.output);
    expect(r.output).toMatch(/curl-meta=7/); // "couldn't connect": there is no route, not even a timeout
    expect(r.output).toMatch(/curl-10=7/);
    expect(accepted).toEqual([]);
    // Only the sandbox's own loopback exists.
    const ifs = await fx.bash('cat /proc/net/dev | tail -n +3 | cut -d: -f1');
    expect(ifs.output.trim().split('\n')[0]?.trim()).toBe('lo');
    expect(ifs.output).not.toMatch(/eth|ens|veth|docker/);
  });

  it('DNS does not work either (no resolver is reachable)', async () => {
    const r = await fx.bash('getent hosts example.com; echo "rc=$?"', 15_000);
    expect(r.output).toMatch(/rc=2/);
  });
});

describe.skipIf(!HAS_BWRAP)('network: on through the egress proxy (SANDBOX_NETWORK_ALLOW set)', () => {
  let fx: SecFixture;
  beforeAll(async () => {
    fx = await makeSecFixture({ SANDBOX_NETWORK_ALLOW: 'registry.npmjs.org,.github.com' });
  });
  afterAll(() => fx?.cleanup());

  it('gets proxy settings but no direct route', async () => {
    const r = await fx.bash('echo "proxy=$HTTPS_PROXY"; cat /proc/net/dev | tail -n +3 | cut -d: -f1');
    expect(r.output).toMatch(/proxy=http:\/\/127\.0\.0\.1:\d+/);
    expect(r.output).not.toMatch(/eth|ens|veth/);
  });

  it('the metadata service, the host loopback and private addresses are refused by the proxy', async () => {
    accepted.length = 0;
    const r = await fx.bash(ATTACKS(port).join('\n'), 30_000);
    expectAllFailed(r.output);
    expect(r.output).toMatch(/returned error: 40[35]|response 403/);
    expect(accepted).toEqual([]);
  });

  it('CONNECT to refused targets, straight to the forwarder, gets 403', async () => {
    const r = await fx.bash(
      [
        `for t in 127.0.0.1:${port} 169.254.169.254:80 10.0.0.1:443 '[::1]:${port}' localhost:${port} metadata.google.internal:80 example.org:443; do`,
        '  printf "CONNECT $t HTTP/1.1\\r\\nHost: $t\\r\\n\\r\\n" | curl -sS -m 3 --noproxy "" --proxytunnel -x "$HTTPS_PROXY" "https://$t/" -o /dev/null 2>&1 | head -1',
        'done',
      ].join('\n'),
      30_000,
    );
    expect(r.output.match(/response 403/g)?.length).toBe(7);
    expect(accepted).toEqual([]);
  });
});
