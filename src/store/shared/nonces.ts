// Replay-protection nonces (Store.acceptNonce): both dialects delete expired rows once every
// NONCE_PRUNE_EVERY accepts of a Store instance, so the table holds about one signature window
// of nonces plus at most this many expired ones per instance.
export const NONCE_PRUNE_EVERY = 256;
