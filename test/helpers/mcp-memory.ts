// The official Memory MCP server (@modelcontextprotocol/server-memory, a devDependency), started
// with node over stdio in the MCP tests.
import { createRequire } from 'node:module';
import path from 'node:path';

export const MEMORY_SERVER_JS = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@modelcontextprotocol/server-memory/package.json')),
  'dist',
  'index.js',
);
