// HTTP helpers for driving the server under test.
export async function call<T>(
  base: string,
  method: string,
  p: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(base + p, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
}

export async function createSession(base: string, title: string): Promise<string> {
  const r = await call<{ id: string }>(base, 'POST', '/api/sessions', { title });
  if (r.status !== 201) throw new Error(`POST /api/sessions → ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.id;
}

export async function sendMessage(base: string, sessionId: string, content: string): Promise<string> {
  const r = await call<{ runId: string }>(base, 'POST', `/api/sessions/${sessionId}/messages`, { content });
  if (r.status !== 202) throw new Error(`POST messages → ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.runId;
}
