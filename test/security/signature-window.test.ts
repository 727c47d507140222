// The time rules of a signed request, on the Authenticator's clock (moved by the test, so the
// ±SIGNATURE_WINDOW_S edges are exact and nothing waits): a timestamp exactly at the edge of the
// window passes, one second beyond it is stale; a nonce is refused as a replay while its record
// lasts (NONCE_TTL_MS), and by the time the record is gone every timestamp it could come with is
// stale. The same with the store's nonce record (storeNonceChecker) on the same clock.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SIGNATURE_WINDOW_S, sign } from '../../src/security/signing.ts';
import {
  Authenticator,
  AuthFailure,
  type AuthRequest,
  NONCE_TTL_MS,
  SIGNED_CREDENTIAL,
  storeNonceChecker,
} from '../../src/server/auth.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { ManualClock } from '../helpers/clock.ts';

const SECRET = 'window-test-secret';
const PATH = '/api/sessions?limit=1';

function signedRequest(timestampS: number, nonce = randomBytes(12).toString('base64url')): AuthRequest {
  const ts = String(timestampS);
  const headers: Record<string, string> = {
    'x-timestamp': ts,
    'x-nonce': nonce,
    'x-signature': sign(SECRET, ts, nonce, 'GET', PATH, ''),
  };
  return {
    method: 'GET',
    pathWithQuery: PATH,
    header: (n) => headers[n.toLowerCase()],
    rawBody: async () => '',
  };
}

async function reason(auth: Authenticator, req: AuthRequest): Promise<string> {
  try {
    return await auth.authenticate(req);
  } catch (err) {
    if (err instanceof AuthFailure) return err.reason;
    throw err;
  }
}

let clock: ManualClock;
let store: SqliteStore | undefined;
beforeEach(() => {
  clock = new ManualClock(Date.parse('2031-05-01T12:00:00.000Z'));
});
afterEach(async () => {
  await store?.close();
  store = undefined;
});

const nowS = () => Math.floor(clock.now() / 1000);

describe('signature window and nonce records, on an injected clock', () => {
  for (const where of ['in-process cache', 'store record'] as const) {
    it(`edges of the window, and replays (${where})`, async () => {
      let checker: ConstructorParameters<typeof Authenticator>[1];
      if (where === 'store record') {
        store = new SqliteStore(':memory:', { now: clock.now });
        await store.migrate();
        checker = storeNonceChecker(store, clock.now);
      }
      const auth = new Authenticator({ apiKeys: [], signingSecret: SECRET }, checker, clock.now);

      expect(await reason(auth, signedRequest(nowS() - SIGNATURE_WINDOW_S))).toBe(SIGNED_CREDENTIAL);
      expect(await reason(auth, signedRequest(nowS() + SIGNATURE_WINDOW_S))).toBe(SIGNED_CREDENTIAL);
      expect(await reason(auth, signedRequest(nowS() - SIGNATURE_WINDOW_S - 1))).toBe('stale');
      expect(await reason(auth, signedRequest(nowS() + SIGNATURE_WINDOW_S + 1))).toBe('stale');

      // A replay within the window is refused for its nonce…
      const ts = nowS();
      expect(await reason(auth, signedRequest(ts, 'nonce-window-1'))).toBe(SIGNED_CREDENTIAL);
      await clock.advance(SIGNATURE_WINDOW_S * 1000);
      expect(await reason(auth, signedRequest(ts, 'nonce-window-1'))).toBe('replayed_nonce');
      // …and after it for its timestamp, before the nonce record is gone.
      await clock.advance(1_000);
      expect(await reason(auth, signedRequest(ts, 'nonce-window-1'))).toBe('stale');
      expect(NONCE_TTL_MS).toBeGreaterThanOrEqual(2 * SIGNATURE_WINDOW_S * 1000);

      // Once the record has expired the nonce may be used again, with a fresh timestamp.
      await clock.advance(NONCE_TTL_MS);
      expect(await reason(auth, signedRequest(nowS(), 'nonce-window-1'))).toBe(SIGNED_CREDENTIAL);
    });
  }
});
