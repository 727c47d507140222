// Numbers and times as people read them.
import type { Usage } from '../types.ts';

export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '–';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** "in 4m" for a time ahead, "4m ago" for one past. */
export function fromNow(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '–';
  const ms = Date.parse(iso) - now;
  if (ms <= 0) return ago(iso, now);
  const s = Math.round(ms / 1000);
  if (s < 60) return `in ${s}s`;
  if (s < 3600) return `in ${Math.floor(s / 60)}m`;
  return `in ${Math.floor(s / 3600)}h`;
}

export function cost(usd: number | undefined): string {
  if (usd === undefined) return '–';
  if (usd === 0) return '$0';
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function tokens(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1_000_000).toFixed(2)}M`;
}

export function usageText(u: Usage | undefined): string {
  if (!u) return '–';
  return `${tokens(u.inputTokens)} in · ${tokens(u.outputTokens)} out · ${cost(u.costUsd)}`;
}

export function duration(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)}m ${Math.round((ms % 60_000) / 1000)}s`;
}

/** What a failure code means, in words (the server's own list, injected at build time). */
export function explainFailure(code: string): string {
  return __FAILURE_CODES__[code] ?? 'an error this dashboard has no description for';
}

/** The repository's short name: `user/repo` of a URL or the last path part of a local path. */
export function repoName(url: string | undefined): string {
  if (!url) return '–';
  const clean = url.replace(/\.git$/, '').replace(/\/+$/, '');
  const parts = clean.split(/[/:]/).filter(Boolean);
  return parts.slice(-2).join('/') || url;
}
