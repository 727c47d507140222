-- 005_fair_queue (SQLite): fair claiming across credentials (tenants) within a priority (with
-- 003's runs_credential_completed_idx for "served least recently" and the daily spend). A run always has a credential from now on: '' stands for "none
-- recorded" (runs queued before 003, internal callers), one tenant like any other.
UPDATE runs SET credential = '' WHERE credential IS NULL AND status IN ('queued', 'running');
-- the credentials with queued runs at a priority (skip scan) and FIFO within one of them
CREATE INDEX runs_fair_idx ON runs (status, priority, credential, queue_seq);
