// The client address behind a trusted reverse proxy (TRUST_PROXY), as a pure function, and the
// validation of the new HTTP-edge settings.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { clientAddress, normalizeIp } from '../../src/server/client-address.ts';

describe('clientAddress', () => {
  it('without TRUST_PROXY: the socket peer, X-Forwarded-For ignored', () => {
    const addr = clientAddress([]);
    expect(addr('::ffff:127.0.0.1', '203.0.113.7')).toBe('127.0.0.1');
    expect(addr('::1', undefined)).toBe('::1');
    expect(addr(undefined, '203.0.113.7')).toBe('unknown');
  });

  it('behind a trusted proxy: the right-most entry that is not itself trusted', () => {
    const addr = clientAddress(['127.0.0.0/8', '::1']);
    expect(addr('127.0.0.1', '203.0.113.7')).toBe('203.0.113.7');
    expect(addr('::ffff:127.0.0.1', ' 203.0.113.7 ')).toBe('203.0.113.7');
    // what the client wrote itself (to the left) is never believed
    expect(addr('127.0.0.1', '198.51.100.1, 203.0.113.7')).toBe('203.0.113.7');
    // proxies in the chain are skipped
    expect(addr('127.0.0.1', '203.0.113.7, 127.0.0.9, 127.3.2.1')).toBe('203.0.113.7');
    // several headers are one list
    expect(addr('127.0.0.1', ['198.51.100.1', '203.0.113.8'])).toBe('203.0.113.8');
    // no header, or an empty one: the proxy is the client
    expect(addr('127.0.0.1', undefined)).toBe('127.0.0.1');
    expect(addr('127.0.0.1', '')).toBe('127.0.0.1');
    // every hop trusted: the left-most
    expect(addr('127.0.0.1', '127.0.0.5, 127.0.0.6')).toBe('127.0.0.5');
    // garbage from a trusted hop is blamed on that hop
    expect(addr('127.0.0.1', 'unknown')).toBe('127.0.0.1');
    expect(addr('127.0.0.1', 'not-an-ip, 127.0.0.7')).toBe('127.0.0.7');
    // ports and brackets as some proxies write them
    expect(addr('127.0.0.1', '203.0.113.9:5555')).toBe('203.0.113.9');
    expect(addr('::1', '[2001:DB8::5]:443')).toBe('2001:db8::5');
    expect(addr('::1', '2001:db8::5')).toBe('2001:db8::5');
  });

  it('an untrusted peer is the client, whatever it forwards', () => {
    const addr = clientAddress(['10.0.0.0/8']);
    expect(addr('127.0.0.1', '203.0.113.7')).toBe('127.0.0.1');
    expect(addr('::ffff:10.1.2.3', '203.0.113.7')).toBe('203.0.113.7');
  });

  it('normalizes addresses', () => {
    expect(normalizeIp('::FFFF:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeIp('[::1]')).toBe('::1');
    expect(normalizeIp('127.0.0.1:80')).toBeUndefined();
    expect(normalizeIp('example.com')).toBeUndefined();
  });
});

describe('HTTP-edge settings', () => {
  it('defaults', () => {
    const c = loadConfig({});
    expect(c.trustProxy).toEqual([]);
    expect(c.requestTimeoutMs).toBe(30_000);
    expect(c.headersTimeoutMs).toBe(20_000);
    expect(c.maxConnections).toBe(10_000);
    expect(c.toolStreamLimitBytes).toBe(1024 ** 2);
    expect(c.runStreamLimitBytes).toBe(32 * 1024 ** 2);
    expect(loadConfig({ REQUEST_TIMEOUT_MS: '5000' }).headersTimeoutMs).toBe(5_000);
  });

  it('refuses bad values with a clear error', () => {
    for (const env of [
      { TRUST_PROXY: 'proxy.internal' },
      { TRUST_PROXY: '10.0.0.0/33' },
      { TRUST_PROXY: '10.0.0.0/8/1' },
      { TRUST_PROXY: '::1/129' },
      { REQUEST_TIMEOUT_MS: '0' },
      { REQUEST_TIMEOUT_MS: '5000', HEADERS_TIMEOUT_MS: '6000' },
      { TOOL_STREAM_LIMIT_BYTES: '10' },
      { MAX_CONNECTIONS: '-1' },
    ]) {
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(ConfigError);
    }
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.0.2.1, fd00::/8' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '192.0.2.1',
      'fd00::/8',
    ]);
  });
});
