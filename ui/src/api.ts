// HTTP to the server's /api. The API key is typed once and kept in sessionStorage (this tab, until
// it is closed); it travels only in the Authorization header — never in a URL, so it cannot land
// in an access log, the history or a Referer. The WebSocket gets a short-lived ticket instead
// (live.ts).

const KEY_NAME = 'duyetbot.apiKey';

export const credentials = {
  get(): string | null {
    try {
      return sessionStorage.getItem(KEY_NAME);
    } catch {
      return null;
    }
  },
  set(key: string): void {
    sessionStorage.setItem(KEY_NAME, key);
  },
  clear(): void {
    sessionStorage.removeItem(KEY_NAME);
  },
};

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Told when the server refuses the key (401): the app goes back to sign-in. */
let onUnauthorized: (() => void) | undefined;
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const key = credentials.get();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, 'network', 'the server cannot be reached (offline?)');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    if (res.status === 401 && path !== '/api/ws-ticket') onUnauthorized?.();
    throw new ApiError(res.status, err?.code ?? 'http_error', err?.message ?? `HTTP ${res.status}`);
  }
  return parsed as T;
}

/** A query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** 404 from a route the server does not have yet (approvals, stats): a feature that is off. */
export const isMissingRoute = (err: unknown): boolean =>
  err instanceof ApiError && err.status === 404 && err.code === 'not_found' && /no route/.test(err.message);
