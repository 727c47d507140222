// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} in plain strings is the MCP_CONFIG syntax under test
// MCP_CONFIG (the common mcpServers file) and the GitHub settings: what loads, what is refused with
// a ConfigError naming the problem.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mcp-config-'));
let n = 0;
function file(content: unknown): string {
  const p = path.join(dir, `c${n++}.json`);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}
const load = (env: Record<string, string>) => loadConfig({ DATA_DIR: dir, ...env });

describe('MCP_CONFIG', () => {
  it('loads stdio and http servers, expands ${VAR} and ${VAR:-default}, adds MCP_SERVER_URL as memory', () => {
    const c = load({
      MCP_CONFIG: file({
        mcpServers: {
          notes: {
            command: 'node',
            args: ['${NOTES_JS}', '--x'],
            env: { MEMORY_FILE_PATH: '${DATA:-/var/x}/m.jsonl' },
          },
          remote: {
            type: 'http',
            url: 'https://mcp.example.com/mcp',
            headers: { Authorization: 'Bearer ${REMOTE_TOKEN}' },
          },
          old: { type: 'sse', url: 'http://127.0.0.1:9/sse' },
        },
      }),
      NOTES_JS: '/opt/notes.js',
      REMOTE_TOKEN: 'tok-123456',
      MCP_SERVER_URL: 'https://memory.example.com/mcp',
      MCP_AUTH_TOKEN: 'memtok-1',
    });
    expect(c.mcpServers).toEqual([
      {
        name: 'notes',
        type: 'stdio',
        command: 'node',
        args: ['/opt/notes.js', '--x'],
        env: { MEMORY_FILE_PATH: '/var/x/m.jsonl' },
      },
      {
        name: 'remote',
        type: 'http',
        url: 'https://mcp.example.com/mcp',
        headers: { Authorization: 'Bearer tok-123456' },
      },
      { name: 'old', type: 'http', url: 'http://127.0.0.1:9/sse', headers: {} },
      {
        name: 'memory',
        type: 'http',
        url: 'https://memory.example.com/mcp',
        headers: { Authorization: 'Bearer memtok-1' },
      },
    ]);
    expect(load({}).mcpServers).toEqual([]);
  });

  const refused: Array<[string, () => Record<string, string>, RegExp]> = [
    ['a missing file', () => ({ MCP_CONFIG: path.join(dir, 'nope.json') }), /cannot read .* as JSON/],
    ['bad JSON', () => ({ MCP_CONFIG: file('{"mcpServers": ') }), /as JSON/],
    ['no mcpServers', () => ({ MCP_CONFIG: file({ servers: {} }) }), /not a valid mcpServers file/],
    [
      'a misspelt field',
      () => ({ MCP_CONFIG: file({ mcpServers: { a: { comand: 'x' } } }) }),
      /not a valid mcpServers file/,
    ],
    [
      'stdio without command',
      () => ({ MCP_CONFIG: file({ mcpServers: { a: { args: [] } } }) }),
      /not a valid/,
    ],
    [
      'http without url',
      () => ({ MCP_CONFIG: file({ mcpServers: { a: { type: 'http' } } }) }),
      /not a valid/,
    ],
    [
      'args not strings',
      () => ({ MCP_CONFIG: file({ mcpServers: { a: { command: 'x', args: [1] } } }) }),
      /not a valid/,
    ],
    [
      'a bad name',
      () => ({ MCP_CONFIG: file({ mcpServers: { 'a b': { command: 'x' } } }) }),
      /names are 1-32/,
    ],
    [
      'a name with __',
      () => ({ MCP_CONFIG: file({ mcpServers: { a__b: { command: 'x' } } }) }),
      /names are 1-32/,
    ],
    [
      'the reserved name',
      () => ({ MCP_CONFIG: file({ mcpServers: { server: { command: 'x' } } }) }),
      /reserved/,
    ],
    [
      'memory twice',
      () => ({
        MCP_CONFIG: file({ mcpServers: { memory: { command: 'x' } } }),
        MCP_SERVER_URL: 'https://m.example/mcp',
      }),
      /MCP_SERVER_URL already names/,
    ],
    [
      'an unset variable',
      () => ({ MCP_CONFIG: file({ mcpServers: { a: { command: '${NOPE_X}' } } }) }),
      /NOPE_X.*not set/,
    ],
    [
      'a non-http url',
      () => ({ MCP_CONFIG: file({ mcpServers: { a: { type: 'http', url: 'ftp://x/y' } } }) }),
      /http\(s\) URL/,
    ],
    [
      'a header with a line break',
      () => ({
        MCP_CONFIG: file({
          mcpServers: { a: { type: 'http', url: 'https://x/y', headers: { X: 'a${NL}b' } } },
        }),
        NL: '\r\n',
      }),
      /line break/,
    ],
    [
      'a bad env name',
      () => ({ MCP_CONFIG: file({ mcpServers: { a: { command: 'x', env: { 'A-B': '1' } } } }) }),
      /bad env name/,
    ],
  ];
  it.each(refused)('refuses %s with a ConfigError', (_what, env, message) => {
    expect(() => load(env())).toThrow(ConfigError);
    expect(() => load(env())).toThrow(message);
  });
});

describe('GitHub settings', () => {
  it('GITHUB_GIT_URL is a bare http(s) origin; the App needs both its id and its PEM', () => {
    expect(load({}).githubGitUrl).toBe('https://github.com');
    expect(load({ GITHUB_GIT_URL: 'https://ghe.example.com/' }).githubGitUrl).toBe('https://ghe.example.com');
    expect(load({ GITHUB_GIT_URL: 'http://127.0.0.1:4000' }).githubGitUrl).toBe('http://127.0.0.1:4000');
    for (const bad of ['ftp://x', 'https://u:p@github.com', 'https://github.com/org', 'not a url'])
      expect(() => load({ GITHUB_GIT_URL: bad }), bad).toThrow(ConfigError);
    const pem = '-----BEGIN RSA PRIVATE KEY-----\\nMIIB\\n-----END RSA PRIVATE KEY-----';
    expect(load({ GITHUB_APP_ID: '123', GITHUB_APP_PRIVATE_KEY: pem }).githubApp).toEqual({
      appId: '123',
      privateKey: '-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----',
    });
    expect(() => load({ GITHUB_APP_ID: '123' })).toThrow(/set together/);
    expect(() => load({ GITHUB_APP_ID: 'abc', GITHUB_APP_PRIVATE_KEY: pem })).toThrow(/must be a number/);
    expect(() => load({ GITHUB_APP_ID: '1', GITHUB_APP_PRIVATE_KEY: 'nope' })).toThrow(/PEM/);
  });
});
