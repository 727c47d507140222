// Receiving what the server POSTs to a workflow's callbackUrl (docs/api.md §3, §6, §10):
// - the terminal Workflow (`X-Callback-Kind: result`, or no such header on older servers);
// - `{kind: "event", workflowId, event}` for each event type listed in the workflow's `notify`
//   (`X-Callback-Kind: event`).
// Each is signed over "callback.<ts>.<nonce>.POST.<path+query>.<raw body>". `verifyCallback` checks
// the signature, the ±300 s window and (with a NonceStore) nonce replay; `handleCallback` adds
// `X-Delivery-Id` de-duplication around the receiver's own handler and picks the HTTP answer.
import { SIGNATURE_WINDOW_S, type VerifyFailure, verifyCallbackSignature } from './signing.ts';
import type { AgentEvent, Workflow } from './types.ts';

/** Remembers accepted nonces; `accept` is false for a nonce seen within `ttlMs` (check-and-set). */
export interface NonceStore {
  accept(nonce: string, ttlMs: number, nowMs: number): boolean | Promise<boolean>;
}

/** Delivery ids already handled. `seen` before the handler, `done` only after it succeeded. */
export interface DeliveryStore {
  seen(deliveryId: string): boolean | Promise<boolean>;
  done(deliveryId: string, nowMs: number): void | Promise<void>;
}

/** One isolate's memory: enough for tests and a single instance; a Worker needs shared state (a Durable Object). */
export class MemoryNonceStore implements NonceStore {
  private readonly seenUntil = new Map<string, number>();
  accept(nonce: string, ttlMs: number, nowMs: number): boolean {
    for (const [k, exp] of this.seenUntil) {
      if (exp > nowMs) break;
      this.seenUntil.delete(k);
    }
    const exp = this.seenUntil.get(nonce);
    if (exp !== undefined && exp > nowMs) return false;
    this.seenUntil.set(nonce, nowMs + ttlMs);
    return true;
  }
}

export class MemoryDeliveryStore implements DeliveryStore {
  private readonly ids = new Set<string>();
  seen(id: string): boolean {
    return this.ids.has(id);
  }
  done(id: string): void {
    this.ids.add(id);
  }
}

export type CallbackMessage =
  | { kind: 'result'; workflow: Workflow }
  | { kind: 'event'; workflowId: string; event: AgentEvent };

export type VerifiedCallback = CallbackMessage & {
  deliveryId?: string;
  attempt?: number;
};

export type CallbackFailure = VerifyFailure | 'replay' | 'bad_body';

export type VerifyCallbackResult = ({ ok: true } & VerifiedCallback) | { ok: false; reason: CallbackFailure };

export interface VerifyCallbackOptions {
  secret: string;
  /** Replay protection: without it a captured callback could be replayed within the window. */
  nonces?: NonceStore;
  nowMs?: number;
}

/** The nonce is remembered for twice the window: a timestamp may be 300 s off on either side. */
const NONCE_TTL_MS = SIGNATURE_WINDOW_S * 2 * 1000;

function parseMessage(kindHeader: string | null, raw: string): CallbackMessage | undefined {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  const kind = kindHeader?.trim().toLowerCase() || (b.kind === 'event' ? 'event' : 'result');
  if (kind === 'event') {
    const ev = b.event as AgentEvent | undefined;
    if (typeof b.workflowId !== 'string' || typeof ev !== 'object' || ev === null) return undefined;
    if (typeof ev.type !== 'string' || typeof ev.seq !== 'number') return undefined;
    return { kind: 'event', workflowId: b.workflowId, event: { ...ev, data: ev.data ?? {} } };
  }
  if (kind !== 'result' || typeof b.id !== 'string' || typeof b.status !== 'string') return undefined;
  return { kind: 'result', workflow: b as Workflow };
}

/**
 * Verifies a callback request (reads its body): signature over the exact bytes received, time
 * window, nonce (when `nonces` is given), then parses the body. Never trust the body before this.
 */
export async function verifyCallback(
  request: Request,
  o: VerifyCallbackOptions,
): Promise<VerifyCallbackResult> {
  const nowMs = o.nowMs ?? Date.now();
  const raw = new Uint8Array(await request.arrayBuffer());
  const u = new URL(request.url);
  const h = request.headers;
  const nonce = h.get('x-nonce');
  const v = await verifyCallbackSignature({
    secret: o.secret,
    timestamp: h.get('x-timestamp'),
    nonce,
    signature: h.get('x-signature'),
    method: request.method,
    pathWithQuery: u.pathname + u.search,
    body: raw,
    nowMs,
  });
  if (!v.ok) return v;
  if (o.nonces && !(await o.nonces.accept(nonce!, NONCE_TTL_MS, nowMs)))
    return { ok: false, reason: 'replay' };
  const msg = parseMessage(h.get('x-callback-kind'), new TextDecoder().decode(raw));
  if (!msg) return { ok: false, reason: 'bad_body' };
  const deliveryId = h.get('x-delivery-id') ?? undefined;
  const attempt = Number(h.get('x-delivery-attempt') ?? Number.NaN);
  return {
    ok: true,
    ...msg,
    ...(deliveryId ? { deliveryId } : {}),
    ...(Number.isInteger(attempt) && attempt > 0 ? { attempt } : {}),
  };
}

export interface HandleCallbackOptions extends VerifyCallbackOptions {
  /** De-duplication by `X-Delivery-Id` (the server may deliver twice after a crash). */
  deliveries?: DeliveryStore;
}

export type HandleOutcome = 'handled' | 'duplicate' | CallbackFailure | 'handler_failed';

/**
 * Verifies the callback, drops a repeat of a delivery already handled, runs `handler`, and answers:
 * 200 handled or duplicate; 401 bad signature, stale or replayed; 400 unreadable body;
 * 500 when the handler threw (the server retries with backoff). The delivery id is recorded only
 * after the handler succeeded, so a failed attempt is retried, not lost.
 */
export async function handleCallback(
  request: Request,
  o: HandleCallbackOptions,
  handler: (msg: VerifiedCallback) => Promise<void>,
): Promise<{ response: Response; outcome: HandleOutcome; message?: VerifiedCallback }> {
  const v = await verifyCallback(request, o);
  if (!v.ok) {
    const status = v.reason === 'bad_body' ? 400 : 401;
    return { response: new Response(v.reason, { status }), outcome: v.reason };
  }
  const { ok: _ok, ...message } = v;
  const id = message.deliveryId;
  if (id && o.deliveries && (await o.deliveries.seen(id))) {
    return { response: new Response('duplicate', { status: 200 }), outcome: 'duplicate', message };
  }
  try {
    await handler(message);
  } catch {
    return { response: new Response('handler failed', { status: 500 }), outcome: 'handler_failed', message };
  }
  if (id && o.deliveries) await o.deliveries.done(id, o.nowMs ?? Date.now());
  return { response: new Response('ok', { status: 200 }), outcome: 'handled', message };
}
