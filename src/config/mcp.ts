// MCP_CONFIG (the standard `mcpServers` JSON file) and MCP_SERVER_URL: the MCP servers whose tools
// the agent gets.
import { readFileSync } from 'node:fs';
import { McpConfigFile } from '../protocol/mcp-config.ts';
import { ConfigError, type Env, opt } from './parse.ts';

/**
 * One MCP server whose tools the agent gets (MCP_CONFIG, and MCP_SERVER_URL as `memory`). A stdio
 * server runs inside the sandbox, one process shared by every session (src/tools/mcp-stdio.ts).
 */
export type McpServerConfig =
  | { name: string; type: 'stdio'; command: string; args: string[]; env: Record<string, string> }
  | { name: string; type: 'http'; url: string; headers: Record<string, string> };

export const MCP_NAME = /^[A-Za-z0-9_-]{1,32}$/;

/** `${VAR}` and `${VAR:-default}` from the environment, as Claude Code's .mcp.json expands them. */
export function expandVars(value: string, env: Env, where: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, def?: string) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (def !== undefined) return def;
    throw new ConfigError(`MCP_CONFIG: ${where} uses \${${name}}, which is not set`);
  });
}

/** MCP_CONFIG (a JSON file in the `mcpServers` format) plus MCP_SERVER_URL as the server `memory`. */
export function mcpServers(env: Env): McpServerConfig[] {
  const out: McpServerConfig[] = [];
  const file = opt(env, 'MCP_CONFIG');
  if (file) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`MCP_CONFIG: cannot read ${file} as JSON: ${(err as Error).message}`);
    }
    const parsed = McpConfigFile.safeParse(raw);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`);
      throw new ConfigError(`MCP_CONFIG: ${file} is not a valid mcpServers file: ${issues.join('; ')}`);
    }
    for (const [name, entry] of Object.entries(parsed.data.mcpServers)) {
      const where = `server "${name}"`;
      if (!MCP_NAME.test(name) || name.includes('__'))
        throw new ConfigError(`MCP_CONFIG: ${where}: names are 1-32 of [A-Za-z0-9_-] without "__"`);
      // `server` carries the server's own tools into Claude Code (mcp__server__git).
      if (name === 'server') throw new ConfigError(`MCP_CONFIG: ${where}: the name "server" is reserved`);
      const x = (v: string, field: string) => expandVars(v, env, `${where} ${field}`);
      if ('url' in entry) {
        const url = x(entry.url, 'url');
        if (!/^https?:\/\/[^\s]+$/i.test(url) || !URL.canParse(url))
          throw new ConfigError(`MCP_CONFIG: ${where}: url must be an http(s) URL`);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(entry.headers ?? {})) {
          if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(k))
            throw new ConfigError(`MCP_CONFIG: ${where}: bad header "${k}"`);
          const value = x(v, `header ${k}`);
          if (/[\r\n\0]/.test(value))
            throw new ConfigError(`MCP_CONFIG: ${where}: header ${k} has a line break`);
          headers[k] = value;
        }
        out.push({ name, type: 'http', url, headers });
      } else {
        const envOut: Record<string, string> = {};
        for (const [k, v] of Object.entries(entry.env ?? {})) {
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
            throw new ConfigError(`MCP_CONFIG: ${where}: bad env name "${k}"`);
          envOut[k] = x(v, `env ${k}`);
        }
        out.push({
          name,
          type: 'stdio',
          command: x(entry.command, 'command'),
          args: (entry.args ?? []).map((a, i) => x(a, `args[${i}]`)),
          env: envOut,
        });
      }
    }
  }
  const url = opt(env, 'MCP_SERVER_URL');
  if (url) {
    if (out.some((s) => s.name === 'memory'))
      throw new ConfigError('MCP_CONFIG defines "memory", which MCP_SERVER_URL already names');
    const token = opt(env, 'MCP_AUTH_TOKEN');
    out.push({
      name: 'memory',
      type: 'http',
      url,
      headers: token ? { Authorization: `Bearer ${token}` } : {},
    });
  }
  return out;
}
