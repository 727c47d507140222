// Short-lived, single-use tickets that open a WebSocket without putting a long-lived key anywhere
// a URL or an access log could keep it (docs/api.md §12). A browser cannot set headers on a
// WebSocket, so the dashboard asks `POST /api/ws-ticket` (authenticated with its bearer key) for a
// ticket and offers it as a subprotocol: `Sec-WebSocket-Protocol: duyetbot.v1,
// duyetbot.ticket.<ticket>`. The server answers with `duyetbot.v1` only, so the ticket is never
// echoed back.
//
// A ticket is stateless: `<payload>.<mac>`, both base64url, the payload naming the credential it was
// issued to, its expiry and a random id, the MAC an HMAC-SHA256 under a key derived from every
// configured credential. Any instance with the same API_KEYS / SIGNING_SECRET verifies it (no
// sticky sessions); changing those settings voids every outstanding ticket. Single use is the
// store's `nonces` table (shared by the instances on PostgreSQL, kept across a restart on SQLite):
// the ticket's id is recorded when it is redeemed, and a second redemption fails.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const WS_PROTOCOL = 'duyetbot.v1';
export const TICKET_PROTOCOL_PREFIX = 'duyetbot.ticket.';
export const TICKET_TTL_MS = 30_000;

/** Prefix of a redeemed ticket's id in the nonce table; `.` never occurs in a request nonce. */
const NONCE_PREFIX = 'wst.';
const ID_RE = /^[A-Za-z0-9_-]{22}$/;
/** A ticket is far shorter; anything longer is refused before any work. */
const MAX_TICKET_CHARS = 512;

interface Payload {
  /** credential id */
  c: string;
  /** expiry, ms since the epoch */
  e: number;
  /** random id: the single-use record */
  n: string;
}

export type TicketCheck =
  | { ok: true; credential: string; id: string; expiresAt: number }
  | { ok: false; reason: 'malformed' | 'bad_mac' | 'expired' };

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export class WsTickets {
  private key: Buffer;
  private now: () => number;
  private ttlMs: number;

  /**
   * `secrets`: every credential secret (API keys, the signing secret); the MAC key is derived from
   * them all. Without any (auth off) a random per-process key is used.
   */
  constructor(secrets: readonly string[], opts: { now?: () => number; ttlMs?: number } = {}) {
    const h = createHash('sha256').update('duyetbot ws-ticket v1\0');
    if (secrets.length === 0) h.update(randomBytes(32));
    for (const s of [...secrets].sort()) h.update(createHash('sha256').update(s).digest());
    this.key = h.digest();
    this.now = opts.now ?? Date.now;
    this.ttlMs = opts.ttlMs ?? TICKET_TTL_MS;
  }

  /** A new ticket for `credential`, valid for TICKET_TTL_MS. */
  issue(credential: string): { ticket: string; expiresAt: number } {
    const payload: Payload = { c: credential, e: this.now() + this.ttlMs, n: b64(randomBytes(16)) };
    const p = b64(JSON.stringify(payload));
    return { ticket: `${p}.${this.mac(p)}`, expiresAt: payload.e };
  }

  /** Checks the MAC and the expiry (not single use: see nonceOf). */
  verify(ticket: string): TicketCheck {
    if (ticket.length > MAX_TICKET_CHARS) return { ok: false, reason: 'malformed' };
    const dot = ticket.indexOf('.');
    if (dot <= 0 || dot !== ticket.lastIndexOf('.')) return { ok: false, reason: 'malformed' };
    const p = ticket.slice(0, dot);
    const given = Buffer.from(ticket.slice(dot + 1), 'base64url');
    const want = Buffer.from(this.mac(p), 'base64url');
    if (given.length !== want.length || !timingSafeEqual(given, want))
      return { ok: false, reason: 'bad_mac' };
    let payload: Payload;
    try {
      payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Payload;
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    if (typeof payload.c !== 'string' || typeof payload.e !== 'number' || !ID_RE.test(String(payload.n)))
      return { ok: false, reason: 'malformed' };
    if (this.now() > payload.e) return { ok: false, reason: 'expired' };
    return { ok: true, credential: payload.c, id: payload.n, expiresAt: payload.e };
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}

/** The nonce-table key under which a redeemed ticket is remembered. */
export function ticketNonce(id: string): string {
  return `${NONCE_PREFIX}${id}`;
}

/** The ticket offered in a `Sec-WebSocket-Protocol` header (comma-separated list), if any. */
export function ticketFromProtocols(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const raw of header.split(',')) {
    const p = raw.trim();
    if (p.startsWith(TICKET_PROTOCOL_PREFIX)) return p.slice(TICKET_PROTOCOL_PREFIX.length);
  }
  return undefined;
}

/**
 * The subprotocol the server answers with: `duyetbot.v1` when offered, else the first one offered
 * (what the `ws` library did before tickets), never a ticket.
 */
export function selectProtocol(offered: Set<string>): string | false {
  if (offered.has(WS_PROTOCOL)) return WS_PROTOCOL;
  for (const p of offered) if (!p.startsWith(TICKET_PROTOCOL_PREFIX)) return p;
  return false;
}
