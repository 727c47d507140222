// The CLI is a client of a running server, not part of it: its two settings come from its own
// environment (docs/api.md §12), not from the server's configuration (src/config.ts).
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:3003';

export function cliEnv(env: NodeJS.ProcessEnv = process.env): { url: string; key?: string } {
  const url = env.AGENT_SERVER_URL?.trim() || DEFAULT_SERVER_URL;
  const key = env.AGENT_SERVER_KEY?.trim();
  return { url, ...(key ? { key } : {}) };
}
