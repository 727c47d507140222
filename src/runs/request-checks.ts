// Checks of what a client names in a request (a repository, a callback URL) that need the server's
// configuration, shared by the session and workflow services.
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import { literalHostRefusal } from '../net/allow-hosts.ts';
import { COALESCIBLE } from '../protocol/index.ts';
import { checkRepoUrl } from '../sandbox/repo/url.ts';

export function assertRepoUrl(
  config: Pick<Config, 'allowFileRepos' | 'githubGitUrl'>,
  repoUrl: string | undefined,
): void {
  if (repoUrl === undefined) return;
  const check = checkRepoUrl(repoUrl, {
    allowFileRepos: config.allowFileRepos,
    githubGitUrl: config.githubGitUrl,
  });
  if (!check.ok)
    throw new AppError('invalid_request', `repoUrl rejected: ${check.reason}`, {
      details: { field: 'repoUrl' },
    });
}

/**
 * http(s) only, and not a literal loopback/private/link-local/metadata/reserved address (any IPv4
 * spelling, IPv6, `localhost`, `*.localhost`) unless CALLBACK_ALLOW_HOSTS lists it. Host names are
 * judged again at delivery, after resolution (net/safe-post.ts).
 */
export function assertCallbackUrl(config: Pick<Config, 'callbackAllowHosts'>, raw: string): void {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new AppError('invalid_request', 'callbackUrl must be an http:// or https:// URL', {
      details: { field: 'callbackUrl' },
    });
  }
  // url.hostname is normalised: 2130706433, 0x7f000001 and 127.1 all read 127.0.0.1 here.
  const why = literalHostRefusal(config.callbackAllowHosts, url.hostname);
  if (why) {
    throw new AppError(
      'invalid_request',
      `callbackUrl host is not allowed: it is ${why}; list it in CALLBACK_ALLOW_HOSTS to allow it`,
      { details: { field: 'callbackUrl' } },
    );
  }
}

/**
 * A workflow's `notify` list (docs/api.md §10) needs somewhere to send to, and never names the
 * streamed deltas (`text.delta`, `tool.output`): dozens of POSTs a second are what the event
 * stream is for, not a webhook.
 */
export function assertNotify(notify: readonly string[] | undefined, callbackUrl: string | undefined): void {
  if (!notify?.length) return;
  if (!callbackUrl)
    throw new AppError('invalid_request', 'notify needs a callbackUrl to send the events to', {
      details: { field: 'notify' },
    });
  const deltas: ReadonlySet<string> = COALESCIBLE;
  const streamed = notify.filter((t) => deltas.has(t));
  if (streamed.length > 0)
    throw new AppError(
      'invalid_request',
      `notify cannot name streamed deltas (${streamed.join(', ')}); follow the workflow's events for them`,
      { details: { field: 'notify' } },
    );
}
