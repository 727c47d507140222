// The environment a sandboxed process gets: the caller's minus secrets and sandbox-managed variables.
import type { Config } from '../../config.ts';

/** Never passed to a sandboxed process, whatever the caller's env says. */
export const SECRET_ENV_NAMES = [
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_AUTH_TOKEN',
  'API_KEYS',
  'SIGNING_SECRET',
  'GITHUB_TOKEN',
  'GH_TOKEN',
  'MCP_AUTH_TOKEN',
  'DATABASE_URL',
  'REDIS_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'PGPASSWORD',
  'NPM_TOKEN',
];
const SECRET_NAME_PATTERN = /(^|_)(SECRET|TOKEN|PASSWORD|PASSWD|API_?KEYS?|PRIVATE_?KEY|CREDENTIALS?)(_|$)/i;
/** Managed by the sandbox itself (the network forwarder sets its own). */
const MANAGED_ENV =
  /^(https?_proxy|all_proxy|no_proxy|NODE_USE_ENV_PROXY|GIT_SSH_COMMAND|GIT_PROXY_COMMAND)$/i;

/**
 * The child env: the caller's allowlist minus anything secret-looking (by name, or by containing a
 * configured secret's value) and minus the proxy variables the sandbox manages itself.
 */
export function sanitizeEnv(
  env: Record<string, string>,
  config: Pick<
    Config,
    | 'anthropicApiKey'
    | 'apiKeys'
    | 'signingSecret'
    | 'githubToken'
    | 'mcpAuthToken'
    | 'databaseUrl'
    | 'redisUrl'
  >,
): Record<string, string> {
  const secrets = [
    config.anthropicApiKey,
    config.signingSecret,
    config.githubToken,
    config.mcpAuthToken,
    config.databaseUrl,
    config.redisUrl,
    ...config.apiKeys,
  ].filter((s): s is string => typeof s === 'string' && s.length >= 6);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (typeof v !== 'string') continue;
    if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) continue;
    if (SECRET_ENV_NAMES.includes(k.toUpperCase()) || SECRET_NAME_PATTERN.test(k)) continue;
    if (MANAGED_ENV.test(k)) continue;
    if (secrets.some((s) => v.includes(s))) continue;
    out[k] = v;
  }
  return out;
}
