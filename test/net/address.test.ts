// Address rules as pure functions: every IPv4 spelling, IPv6 forms that embed IPv4, the refused
// ranges, CIDR matching, and the CALLBACK_ALLOW_HOSTS list (parsing and destination decisions).
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import {
  cidrContains,
  formatIPv4,
  parseCidr,
  parseIPv4,
  parseIp,
  refusedAddressReason,
} from '../../src/net/address.ts';
import {
  addressRefusal,
  hostAllowed,
  isLocalhostName,
  literalHostRefusal,
  parseHostAllowList,
} from '../../src/net/allow-hosts.ts';

const LOOPBACK = 0x7f000001;

describe('parseIPv4: every spelling the URL parser and inet_aton accept', () => {
  it.each([
    ['127.0.0.1', LOOPBACK],
    ['2130706433', LOOPBACK],
    ['0x7f000001', LOOPBACK],
    ['0X7F000001', LOOPBACK],
    ['017700000001', LOOPBACK],
    ['0177.0.0.1', LOOPBACK],
    ['0x7f.0.0.1', LOOPBACK],
    ['0x7f.1', LOOPBACK],
    ['127.1', LOOPBACK],
    ['127.0.1', LOOPBACK],
    ['127.0.0.1.', LOOPBACK],
    ['0177.0.0.01', LOOPBACK],
    ['0', 0],
    ['0x', 0],
    ['169.254.169.254', 0xa9fea9fe],
    ['0xa9fea9fe', 0xa9fea9fe],
    ['2852039166', 0xa9fea9fe],
    ['255.255.255.255', 0xffffffff],
  ])('%s → %d', (s, n) => {
    expect(parseIPv4(s)).toBe(n);
  });

  it.each([
    '256.0.0.1',
    '1.2.3.4.5',
    '4294967296',
    '0x100000000',
    '1.16777216',
    '08.0.0.1',
    '0x7g.0.0.1',
    '1..2.3',
    '',
    '.',
    'example.com',
    '127.0.0.1.nip.io',
    '-1',
    '1e3',
    '99999999999999999999999',
  ])('%s is not IPv4', (s) => {
    expect(parseIPv4(s)).toBeNull();
  });

  it('agrees with what new URL() normalises the host to', () => {
    for (const s of ['2130706433', '0x7f000001', '0177.0.0.1', '127.1', '0x7f.1', '10.1', '0xa9fea9fe']) {
      const n = parseIPv4(s);
      expect(n).not.toBeNull();
      expect(new URL(`http://${s}:80/`).hostname).toBe(formatIPv4(n as number));
    }
  });
});

describe('refusedAddressReason', () => {
  it.each([
    // loopback, every spelling
    '127.0.0.1',
    '127.1.2.3',
    '2130706433',
    '0x7f000001',
    '0177.0.0.1',
    '127.1',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
    '[::ffff:127.0.0.1]',
    '::ffff:7f00:1',
    '::127.0.0.1',
    // private, link-local, metadata, CGNAT
    '10.0.0.1',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '0xa9fea9fe',
    '100.100.100.200',
    'fd00:ec2::254',
    'fe80::1%eth0',
    // v4 inside v6: mapped, NAT64, 6to4
    '::ffff:10.0.0.1',
    '::ffff:169.254.169.254',
    '64:ff9b::7f00:1',
    '64:ff9b::a9fe:a9fe',
    '2002:7f00:1::',
    '2002:a9fe:a9fe::1',
    '2002:c0a8:0101::',
    // reserved / not global unicast
    '0.0.0.0',
    '0',
    '::',
    '::ffff:0:0:7f00:1',
    '2001::1',
    '2001:db8::1',
    '3fff::1',
    '4000::1',
    'ff02::1',
    '240.0.0.1',
  ])('refuses %s', (ip) => {
    expect(refusedAddressReason(ip)).not.toBeNull();
  });

  it.each([
    '1.1.1.1',
    '8.8.8.8',
    '134744072', // 8.8.8.8
    '172.32.0.1',
    '2606:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ])('allows public %s', (ip) => {
    expect(refusedAddressReason(ip)).toBeNull();
  });

  it('refuses what is not an IP, and names the embedded address', () => {
    expect(refusedAddressReason('example.com')).toBe('not an IP address');
    expect(refusedAddressReason('')).toBe('not an IP address');
    expect(refusedAddressReason('64:ff9b::a9fe:a9fe')).toContain('169.254.169.254');
  });
});

describe('CIDRs', () => {
  it('parses v4/v6 CIDRs and bare IPs; rejects garbage', () => {
    expect(parseCidr('10.0.0.0/8')).toMatchObject({ family: 4, bits: 8 });
    expect(parseCidr('10.1.2.3/8')).toEqual(parseCidr('10.0.0.0/8')); // host bits cleared
    expect(parseCidr('127.0.0.1')).toMatchObject({ family: 4, bits: 32 });
    expect(parseCidr('fd00::/8')).toMatchObject({ family: 6, bits: 8 });
    expect(parseCidr('::1')).toMatchObject({ family: 6, bits: 128 });
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', 'x/8', '/8'])
      expect(parseCidr(bad), bad).toBeNull();
  });

  it('matches addresses in any spelling; v4 CIDRs match v4-mapped v6', () => {
    const c = parseCidr('127.0.0.0/8')!;
    for (const ip of ['127.0.0.1', '127.255.1.1', '2130706433', '::ffff:127.0.0.1', '[::ffff:7f00:2]'])
      expect(cidrContains(c, ip), ip).toBe(true);
    for (const ip of ['128.0.0.1', '::1', '64:ff9b::7f00:1', 'localhost'])
      expect(cidrContains(c, ip), ip).toBe(false);
    const v6 = parseCidr('fd00::/8')!;
    expect(cidrContains(v6, 'fd12:3456::1')).toBe(true);
    expect(cidrContains(v6, 'fe80::1')).toBe(false);
    expect(cidrContains(v6, '10.0.0.1')).toBe(false);
    expect(cidrContains(parseCidr('0.0.0.0/0')!, '8.8.8.8')).toBe(true);
    expect(parseIp('[::1]')).toEqual({ family: 6, value: 1n });
  });
});

describe('CALLBACK_ALLOW_HOSTS', () => {
  it('parses host names (case, trailing dot), IP literals and CIDRs', () => {
    const l = parseHostAllowList([
      'Evil.Test.',
      ' 127.0.0.1 ',
      '[::1]',
      '10.0.0.0/8',
      'fd00::/8',
      '',
      'my_host',
    ]);
    expect(l.names).toEqual(['evil.test', 'my_host']);
    expect(l.cidrs).toHaveLength(4);
  });

  it.each([
    '*',
    '*.example.com',
    '.example.com',
    'http://example.com',
    'example.com:8080',
    '127.0.0.1:80',
    '10.0.0.0/33',
    'exa mple.com',
    'example.com/24',
  ])('rejects %s', (entry) => {
    expect(() => parseHostAllowList([entry])).toThrow(/CALLBACK_ALLOW_HOSTS/);
  });

  it('a bad entry is a ConfigError at start; a good list is parsed into the config', () => {
    expect(() => loadConfig({ CALLBACK_ALLOW_HOSTS: 'ok.test,*.bad' })).toThrow(
      /CALLBACK_ALLOW_HOSTS: "\*\.bad"/,
    );
    const c = loadConfig({ CALLBACK_ALLOW_HOSTS: 'ok.test, 127.0.0.0/8' });
    expect(c.callbackAllowHosts.names).toEqual(['ok.test']);
    expect(c.callbackAllowHosts.cidrs).toHaveLength(1);
    expect(loadConfig({}).callbackAllowHosts).toEqual({ names: [], cidrs: [] });
  });

  it('host names match exactly (case-insensitive, trailing dot ignored), not as suffixes', () => {
    const l = parseHostAllowList(['evil.test']);
    expect(hostAllowed(l, 'evil.test')).toBe(true);
    expect(hostAllowed(l, 'EVIL.TEST.')).toBe(true);
    expect(hostAllowed(l, 'a.evil.test')).toBe(false);
    expect(hostAllowed(l, 'evil.test.attacker.example')).toBe(false);
    expect(hostAllowed(l, 'notevil.test')).toBe(false);
  });

  it('literalHostRefusal: refused literals and localhost names unless listed; other names left to delivery', () => {
    const none = parseHostAllowList([]);
    for (const h of [
      '127.0.0.1',
      '127.1.2.3',
      '[::1]',
      '[::ffff:7f00:1]',
      '10.0.0.1',
      '169.254.169.254',
      '0.0.0.0',
    ])
      expect(literalHostRefusal(none, h), h).not.toBeNull();
    for (const h of ['localhost', 'LOCALHOST.', 'api.localhost', 'a.b.localhost'])
      expect(literalHostRefusal(none, h), h).toMatch(/localhost/);
    expect(isLocalhostName('localhost.example.com')).toBe(false);
    for (const h of ['8.8.8.8', 'example.com', 'evil.test', 'localhost.example.com'])
      expect(literalHostRefusal(none, h), h).toBeNull();

    const l = parseHostAllowList(['127.0.0.0/8', 'localhost']);
    expect(literalHostRefusal(l, '127.1.2.3')).toBeNull();
    expect(literalHostRefusal(l, '[::ffff:127.0.0.1]')).toBeNull();
    expect(literalHostRefusal(l, 'localhost')).toBeNull();
    expect(literalHostRefusal(l, 'api.localhost')).not.toBeNull(); // exact names only
    expect(literalHostRefusal(l, '[::1]')).not.toBeNull(); // ::1 is not in 127.0.0.0/8
    expect(literalHostRefusal(l, '10.0.0.1')).not.toBeNull();
  });

  it('addressRefusal: each resolved address, unless the host name or the address is listed', () => {
    const none = parseHostAllowList([]);
    expect(addressRefusal(none, 'evil.test', '127.0.0.1')).not.toBeNull();
    expect(addressRefusal(none, 'evil.test', '::ffff:169.254.169.254')).not.toBeNull();
    expect(addressRefusal(none, 'good.test', '8.8.8.8')).toBeNull();
    expect(addressRefusal(none, 'localhost', '8.8.8.8')).not.toBeNull(); // localhost is never public
    expect(addressRefusal(parseHostAllowList(['evil.test']), 'evil.test', '127.0.0.1')).toBeNull();
    expect(addressRefusal(parseHostAllowList(['evil.test']), 'other.test', '127.0.0.1')).not.toBeNull();
    expect(addressRefusal(parseHostAllowList(['127.0.0.0/8']), 'evil.test', '127.0.0.1')).toBeNull();
    expect(addressRefusal(parseHostAllowList(['127.0.0.0/8']), 'evil.test', '10.0.0.1')).not.toBeNull();
  });
});
