// HTTP helpers for driving the server under test. `key`: an API key sent as a bearer token (a
// server started with API_KEYS); without it, no authentication.
export async function call<T>(
  base: string,
  method: string,
  p: string,
  body?: unknown,
  key?: string,
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (key !== undefined) headers.authorization = `Bearer ${key}`;
  const res = await fetch(base + p, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
}

export async function createSession(base: string, title: string, key?: string): Promise<string> {
  const r = await call<{ id: string }>(base, 'POST', '/api/sessions', { title }, key);
  if (r.status !== 201) throw new Error(`POST /api/sessions → ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.id;
}

export async function sendMessage(
  base: string,
  sessionId: string,
  content: string,
  key?: string,
): Promise<string> {
  const r = await call<{ runId: string }>(
    base,
    'POST',
    `/api/sessions/${sessionId}/messages`,
    { content },
    key,
  );
  if (r.status !== 202) throw new Error(`POST messages → ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.runId;
}
