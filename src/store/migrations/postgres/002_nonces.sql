-- 002_nonces (PostgreSQL): nonces of accepted signed requests (CONTRACT §3 replay protection),
-- shared by every instance on this database, one row per nonce until it expires. Expired rows
-- are reused on conflict and pruned by the store. A logged table on purpose: after a crash or a
-- failover to a standby the nonces of the window must still be there.
CREATE TABLE nonces (
  nonce      TEXT COLLATE "C" PRIMARY KEY,
  expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX nonces_expires_idx ON nonces (expires_at);
