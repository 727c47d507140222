// Network attacks from sandboxed processes: the server's own loopback port in every spelling, and
// names that resolve to it. Only loopback is ever a target here (no packet may leave this machine,
// not even in a test that expects a refusal): the rules for private, link-local and metadata
// ranges are proven as pure functions (test/net/address.test.ts, bwrap-net-policy.test.ts); here
// they are proven end to end with loopback spellings and a test resolver that maps names — among
// them cloud-metadata-looking ones — to loopback. With network off there is no route at all; with
// network on (SANDBOX_NETWORK_ALLOW set) everything goes through the session's egress gate.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { makeSecFixture, type SecFixture } from './helpers.ts';

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

/** The test resolver: every name the sandbox asks for leads to the host's loopback. */
const lookups: string[] = [];
const toLoopback = async (host: string) => {
  lookups.push(host);
  return host === 'v6.evil.test' ? ['::1'] : ['127.0.0.1'];
};

/** Loopback in the spellings URL parsers and resolvers accept. */
const LOOPBACK = (p: number) => [
  `127.0.0.1:${p}`,
  `127.1.2.3:${p}`,
  `2130706433:${p}`,
  `0x7f000001:${p}`,
  `0177.0.0.1:${p}`,
  `127.1:${p}`,
  `[::1]:${p}`,
  `[::ffff:127.0.0.1]:${p}`,
  `localhost:${p}`,
];

const ATTACKS = (p: number) => [
  ...LOOPBACK(p).map((t, i) => `curl -fsS -m 3 http://${t}/ 2>&1; echo "curl-${i}=$?"`),
  `curl -fsS -m 3 --noproxy '*' http://127.0.0.1:${p}/ 2>&1; echo "curl-noproxy=$?"`,
  `(exec 3<>/dev/tcp/127.0.0.1/${p} && echo GET >&3 && cat <&3) 2>&1; echo "devtcp-lo=$?"`,
  `(exec 3<>/dev/tcp/127.1.2.3/${p} && echo GET >&3 && cat <&3) 2>&1; echo "devtcp-lo2=$?"`,
  `node -e "fetch('http://127.0.0.1:${p}/').then(r => r.text()).then(t => console.log('GOT', t), e => console.log('fetch failed', e.cause?.code ?? e.message))"`,
  `node -e "fetch('http://[::1]:${p}/').then(r => r.text()).then(t => console.log('GOT', t), e => console.log('fetch failed', e.cause?.code ?? e.message))"`,
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
    fx = await makeSecFixture({}, { lookup: toLoopback });
  });
  afterAll(() => fx?.cleanup());

  it('the host loopback is unreachable in every spelling; nothing is received', async () => {
    accepted.length = 0;
    const r = await fx.bash(ATTACKS(port).join('\n'), 60_000);
    expectAllFailed(r.output);
    expect(r.output).toMatch(/curl-0=7/); // "couldn't connect": the sandbox's own empty loopback
    expect(accepted).toEqual([]);
    // Only the sandbox's own loopback exists, and no route leads anywhere else.
    const ifs = await fx.bash('cat /proc/net/dev | tail -n +3 | cut -d: -f1; cat /proc/net/route | wc -l');
    expect(ifs.output.trim().split('\n')[0]?.trim()).toBe('lo');
    expect(ifs.output).not.toMatch(/eth|ens|veth|docker/);
    expect(ifs.output.trim().split('\n').at(-2)?.trim()).toBe('1'); // header line only: no routes
  });

  it('DNS does not work either (no resolver is reachable)', async () => {
    const r = await fx.bash('getent hosts example.com; echo "rc=$?"', 15_000);
    expect(r.output).toMatch(/rc=2/);
  });
});

describe.skipIf(!HAS_BWRAP)('network: on through the egress gate (SANDBOX_NETWORK_ALLOW set)', () => {
  let fx: SecFixture;
  beforeAll(async () => {
    fx = await makeSecFixture(
      { SANDBOX_NETWORK_ALLOW: `evil.test,v6.evil.test,.allowed.test:${port}` },
      { lookup: toLoopback },
    );
  });
  afterAll(() => fx?.cleanup());

  it('gets proxy settings but no direct route', async () => {
    const r = await fx.bash('echo "proxy=$HTTPS_PROXY"; cat /proc/net/dev | tail -n +3 | cut -d: -f1');
    expect(r.output).toMatch(/proxy=http:\/\/127\.0\.0\.1:\d+/);
    expect(r.output).not.toMatch(/eth|ens|veth/);
  });

  it('the host loopback in every spelling is refused by the gate', async () => {
    accepted.length = 0;
    const r = await fx.bash(ATTACKS(port).join('\n'), 60_000);
    expectAllFailed(r.output);
    expect(r.output).toMatch(/returned error: 40[35]|response 403/);
    expect(accepted).toEqual([]);
  });

  it('allowlisted names that resolve to loopback (DNS rebinding to the host) are refused; names are resolved once, by the gate', async () => {
    accepted.length = 0;
    lookups.length = 0;
    const r = await fx.bash(
      [
        `for t in evil.test:443 v6.evil.test:443 a.allowed.test:${port} metadata.google.internal:80 instance-data:80 localhost:${port} foo.localhost:${port} x.internal:443; do`,
        '  printf "CONNECT $t HTTP/1.1\\r\\nHost: $t\\r\\n\\r\\n" | curl -sS -m 3 --noproxy "" --proxytunnel -x "$HTTPS_PROXY" "https://$t/" -o /dev/null 2>&1 | head -1',
        'done',
      ].join('\n'),
      60_000,
    );
    expect(r.output.match(/response 403/g)?.length, r.output).toBe(8);
    expect(accepted).toEqual([]);
    // The allowlisted names were resolved (by the gate, with the test resolver) and refused for
    // what they resolved to; the always-refused names were refused without a lookup.
    expect(lookups).toEqual(expect.arrayContaining(['evil.test', 'v6.evil.test', 'a.allowed.test']));
    expect(lookups).not.toContain('metadata.google.internal');
    expect(lookups).not.toContain('localhost');
  });
});
