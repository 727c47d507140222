-- 002_nonces (SQLite): nonces of accepted signed requests (CONTRACT §3 replay protection), one
-- row per nonce until it expires. Expired rows are reused on conflict and pruned by the store.
CREATE TABLE nonces (
  nonce      TEXT PRIMARY KEY,
  expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX nonces_expires_idx ON nonces (expires_at);
