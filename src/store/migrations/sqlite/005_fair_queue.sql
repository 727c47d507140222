-- 005_fair_queue (SQLite): fair claiming across credentials (tenants) within a priority, and the
-- per-credential daily spend. A run always has a credential from now on: '' stands for "none
-- recorded" (runs queued before 003, internal callers), one tenant like any other.
UPDATE runs SET credential = '' WHERE credential IS NULL AND status IN ('queued', 'running');
-- the credentials with queued runs at a priority (skip scan) and FIFO within one of them
CREATE INDEX runs_fair_idx ON runs (status, priority, credential, queue_seq);
-- when a credential last had a run started (round robin: the least recently served goes first)
CREATE INDEX runs_credential_started_idx ON runs (credential, started_at);
