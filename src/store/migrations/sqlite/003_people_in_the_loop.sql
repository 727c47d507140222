-- 003_people_in_the_loop (SQLite): approval rules and budgets of sessions and workflows, the
-- event types a workflow notifies, and the credential (tenant) that created each session, workflow
-- and run: fair queueing, per-key caps and daily spend count by it.
ALTER TABLE sessions ADD COLUMN policy TEXT;
ALTER TABLE sessions ADD COLUMN credential TEXT;
ALTER TABLE workflows ADD COLUMN policy TEXT;
ALTER TABLE workflows ADD COLUMN notify TEXT;
ALTER TABLE workflows ADD COLUMN credential TEXT;
ALTER TABLE runs ADD COLUMN credential TEXT;
CREATE INDEX runs_credential_completed_idx ON runs (credential, completed_at) WHERE credential IS NOT NULL;
