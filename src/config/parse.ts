// The value parsers of src/config.ts: each reads one variable from the `env` it is given (never
// `process.env` itself) and throws ConfigError with the variable's name when the value is wrong.
import net from 'node:net';
import path from 'node:path';
import { type HostAllowList, parseHostAllowList } from '../net/allow-hosts.ts';

export class ConfigError extends Error {}

export type Env = Record<string, string | undefined>;

export function int(env: Env, name: string, def: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min)
    throw new ConfigError(`${name} must be a number ≥ ${min}, got "${raw}"`);
  return Math.floor(n);
}
export function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return def;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}
export function list(env: Env, name: string): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
/** Comma-separated absolute directories, normalised (symlinks are resolved where they are used). */
export function dirList(env: Env, name: string): string[] {
  return list(env, name).map((d) => {
    if (!path.isAbsolute(d)) throw new ConfigError(`${name} entries must be absolute paths, got "${d}"`);
    return path.resolve(d);
  });
}
/** A non-negative decimal number (e.g. dollars), or undefined when unset. */
export function optNumber(env: Env, name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > max)
    throw new ConfigError(`${name} must be a number between 0 and ${max}, got "${raw}"`);
  return n;
}
export function optInt(env: Env, name: string): number | undefined {
  const n = optNumber(env, name);
  if (n !== undefined && !Number.isInteger(n))
    throw new ConfigError(`${name} must be a whole number, got "${env[name]}"`);
  return n;
}
export const MB = 1024 * 1024;

export function opt(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** Anthropic beta names (the LLM proxy also refuses the ones that let the API act for the agent). */
export function betaList(env: Env, name: string): string[] {
  const betas = list(env, name);
  for (const b of betas) {
    if (!/^[a-z0-9][a-z0-9.-]{0,99}$/.test(b)) throw new ConfigError(`${name}: "${b}" is not a beta name`);
  }
  return betas;
}

export function allowHosts(env: Env, name: string): HostAllowList {
  try {
    return parseHostAllowList(list(env, name), name);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/** `1.2.3.4`, `::1`, `10.0.0.0/8`, `fd00::/8` (syntax only; used to validate TRUST_PROXY). */
export function isIpOrCidr(s: string): boolean {
  const [addr, bits, ...rest] = s.split('/');
  if (rest.length > 0 || addr === undefined) return false;
  const family = net.isIP(addr);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/** `http(s)://host[:port]` with no path, query, credentials: the base of GitHub's git remotes. */
export function gitBaseUrl(env: Env, name: string, def: string): string {
  const raw = (opt(env, name) ?? def).replace(/\/+$/, '');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL like https://github.com, got "${raw}"`);
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password || u.search || u.hash)
    throw new ConfigError(`${name} must be an http(s) URL without credentials or query, got "${raw}"`);
  if (u.pathname !== '/' && u.pathname !== '')
    throw new ConfigError(`${name} must not have a path, got "${raw}"`);
  return `${u.protocol}//${u.host}`;
}

/** `raw` parsed as an http(s) URL, or a ConfigError naming `name`; `what` says which kind is wanted. */
export function parseHttpUrl(name: string, raw: string, what = 'an http(s) URL'): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ConfigError(`${name} must be ${what}, got "${raw}"`);
  return u;
}

export function httpUrl(env: Env, name: string): string | undefined {
  const raw = opt(env, name);
  if (raw === undefined) return undefined;
  parseHttpUrl(name, raw);
  return raw.replace(/\/+$/, '');
}

export function percent(env: Env, name: string, def: number): number {
  const v = int(env, name, def, 0);
  if (v > 100) throw new ConfigError(`${name} must be a percentage 0–100 (0 = off), got "${env[name]}"`);
  return v;
}

/** A whole number in [0, max], or undefined for unset / `auto` (the server decides). */
export function autoInt(env: Env, name: string, max: number): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '' || raw.toLowerCase() === 'auto') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max)
    throw new ConfigError(`${name} must be "auto" or a whole number from 0 to ${max}, got "${raw}"`);
  return n;
}
