-- 004_approvals (PostgreSQL): tool calls that wait for a person's decision (docs/api.md §10), and
-- event notifications in the callback outbox. Same shape as sqlite/004_approvals.sql.
CREATE TABLE approvals (
  id           TEXT COLLATE "C" PRIMARY KEY,
  session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  workflow_id  TEXT,
  run_id       TEXT NOT NULL,
  tool_use_id  TEXT NOT NULL,
  name         TEXT NOT NULL,
  input        JSONB NOT NULL,
  rule         TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('pending', 'decided')),
  decision     TEXT CHECK (decision IN ('allow', 'deny')),
  decided_by   TEXT CHECK (decided_by IN ('user', 'timeout', 'cancel', 'restart')),
  message      TEXT,
  requested_at TIMESTAMPTZ NOT NULL,
  expires_at   TIMESTAMPTZ NOT NULL,
  decided_at   TIMESTAMPTZ
);
CREATE INDEX approvals_requested_idx ON approvals (requested_at DESC, id DESC);
CREATE INDEX approvals_status_requested_idx ON approvals (status, requested_at DESC, id DESC);
CREATE INDEX approvals_pending_run_idx ON approvals (run_id) WHERE status = 'pending';
CREATE INDEX approvals_pending_session_idx ON approvals (session_id) WHERE status = 'pending';

-- outbox: besides the one terminal result per workflow (kind `result`), notifications of the
-- workflow's events (kind `event`, several per workflow), delivered one at a time per workflow in
-- `ord` order. A workflow's rows are inserted while its session row is locked (they go with its
-- events), so their `ord` follows the events' seq.
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'result' CHECK (kind IN ('result', 'event'));
ALTER TABLE outbox ADD COLUMN ord BIGINT GENERATED ALWAYS AS IDENTITY;
ALTER TABLE outbox DROP CONSTRAINT outbox_workflow_id_key;
CREATE UNIQUE INDEX outbox_result_idx ON outbox (workflow_id) WHERE kind = 'result';
CREATE INDEX outbox_pending_workflow_idx ON outbox (workflow_id, ord) WHERE status = 'pending';
