-- 004_approvals (SQLite): tool calls that wait for a person's decision (docs/api.md §10), and
-- event notifications in the callback outbox.
--
-- approvals: one row per tool call a policy rule stopped; `pending` until decided (by a person,
-- the timeout, a cancel or a restart). Deleted with its session.
CREATE TABLE approvals (
  id           TEXT PRIMARY KEY,
  session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  workflow_id  TEXT,
  run_id       TEXT NOT NULL,
  tool_use_id  TEXT NOT NULL,
  name         TEXT NOT NULL,
  input        TEXT NOT NULL,
  rule         TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('pending', 'decided')),
  decision     TEXT CHECK (decision IN ('allow', 'deny')),
  decided_by   TEXT CHECK (decided_by IN ('user', 'timeout', 'cancel', 'restart')),
  message      TEXT,
  requested_at TEXT NOT NULL,
  expires_at   TEXT NOT NULL,
  decided_at   TEXT
);
CREATE INDEX approvals_requested_idx ON approvals (requested_at DESC, id DESC);
CREATE INDEX approvals_status_requested_idx ON approvals (status, requested_at DESC, id DESC);
CREATE INDEX approvals_pending_run_idx ON approvals (run_id) WHERE status = 'pending';
CREATE INDEX approvals_pending_session_idx ON approvals (session_id) WHERE status = 'pending';

-- outbox: besides the one terminal result per workflow (kind `result`), notifications of the
-- workflow's events (kind `event`, several per workflow). `ord` is the order they were queued in:
-- a workflow's rows are delivered one at a time in that order (docs/api.md §10). SQLite cannot
-- drop the UNIQUE of workflow_id in place, so the table is rebuilt.
CREATE TABLE outbox_new (
  ord             INTEGER PRIMARY KEY AUTOINCREMENT,
  id              TEXT NOT NULL UNIQUE,
  workflow_id     TEXT NOT NULL,
  kind            TEXT NOT NULL DEFAULT 'result' CHECK (kind IN ('result', 'event')),
  url             TEXT NOT NULL,
  body            TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  last_error      TEXT,
  created_at      TEXT NOT NULL,
  delivered_at    TEXT
);
INSERT INTO outbox_new (id, workflow_id, kind, url, body, status, attempts, next_attempt_at, last_error, created_at, delivered_at)
  SELECT id, workflow_id, 'result', url, body, status, attempts, next_attempt_at, last_error, created_at, delivered_at
    FROM outbox ORDER BY created_at, id;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
-- one terminal callback per workflow: a second enqueue for the same workflow is ignored
CREATE UNIQUE INDEX outbox_result_idx ON outbox (workflow_id) WHERE kind = 'result';
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);
CREATE INDEX outbox_pending_workflow_idx ON outbox (workflow_id, ord) WHERE status = 'pending';
