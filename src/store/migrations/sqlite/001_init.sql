-- 001_init (SQLite): the whole schema.
-- Conventions: JSON documents are TEXT; timestamps are canonical ISO-8601 UTC TEXT with
-- milliseconds (so text order = time order); booleans are 0/1; usage is three columns.

CREATE TABLE sessions (
  id              TEXT PRIMARY KEY,
  title           TEXT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'idle',
  engine          TEXT NOT NULL,
  model           TEXT NOT NULL,
  repo_url        TEXT,
  branch          TEXT,
  system_prompt   TEXT,
  metadata        TEXT NOT NULL DEFAULT '{}',
  last_seq        INTEGER NOT NULL DEFAULT 0,
  input_tokens    INTEGER NOT NULL DEFAULT 0,
  output_tokens   INTEGER NOT NULL DEFAULT 0,
  cost_usd        REAL NOT NULL DEFAULT 0,
  engine_state    TEXT NOT NULL DEFAULT '{}',
  workflow_id     TEXT,
  workspace_ready INTEGER NOT NULL DEFAULT 0,
  -- the run of this session currently claimed by a worker (at most one); maintained by the store
  running_run_id  TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);
CREATE INDEX sessions_created_idx ON sessions (created_at DESC, id DESC);
CREATE INDEX sessions_status_created_idx ON sessions (status, created_at DESC, id DESC);

CREATE TABLE messages (
  ord        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  run_id     TEXT,
  role       TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
  text       TEXT NOT NULL,
  content    TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX messages_session_idx ON messages (session_id, ord);

CREATE TABLE runs (
  -- creation order: FIFO within a priority (never reused, unlike timestamps it cannot tie)
  queue_seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  id               TEXT NOT NULL UNIQUE,
  session_id       TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  workflow_id      TEXT,
  status           TEXT NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  input            TEXT NOT NULL,
  idempotency_key  TEXT,
  priority         INTEGER NOT NULL DEFAULT 0,
  attempts         INTEGER NOT NULL DEFAULT 0,
  worker_id        TEXT,
  lease_expires_at TEXT,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  deadline_at      TEXT,
  created_at       TEXT NOT NULL,
  started_at       TEXT,
  completed_at     TEXT,
  stop_reason      TEXT,
  error            TEXT,
  input_tokens     INTEGER NOT NULL DEFAULT 0,
  output_tokens    INTEGER NOT NULL DEFAULT 0,
  cost_usd         REAL NOT NULL DEFAULT 0
);
CREATE INDEX runs_queue_idx ON runs (status, priority DESC, queue_seq);
CREATE INDEX runs_session_idx ON runs (session_id, queue_seq);
CREATE UNIQUE INDEX runs_idempotency_idx ON runs (session_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_lease_idx ON runs (lease_expires_at) WHERE status = 'running';

CREATE TABLE events (
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,
  run_id     TEXT,
  type       TEXT NOT NULL,
  ts         TEXT NOT NULL,
  data       TEXT NOT NULL,
  PRIMARY KEY (session_id, seq)
);

CREATE TABLE workflows (
  id              TEXT PRIMARY KEY,
  type            TEXT NOT NULL,
  priority        TEXT NOT NULL,
  status          TEXT NOT NULL,
  instructions    TEXT NOT NULL,
  repo_url        TEXT,
  branch          TEXT,
  engine          TEXT,
  model           TEXT,
  callback_url    TEXT,
  idempotency_key TEXT,
  timeout_ms      INTEGER NOT NULL,
  payload         TEXT NOT NULL DEFAULT '{}',
  metadata        TEXT NOT NULL DEFAULT '{}',
  session_id      TEXT NOT NULL,
  run_id          TEXT NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  created_at      TEXT NOT NULL,
  started_at      TEXT,
  completed_at    TEXT,
  result          TEXT,
  error           TEXT,
  input_tokens    INTEGER NOT NULL DEFAULT 0,
  output_tokens   INTEGER NOT NULL DEFAULT 0,
  cost_usd        REAL NOT NULL DEFAULT 0
);
CREATE INDEX workflows_created_idx ON workflows (created_at DESC, id DESC);
CREATE INDEX workflows_status_created_idx ON workflows (status, created_at DESC, id DESC);
CREATE INDEX workflows_type_created_idx ON workflows (type, created_at DESC, id DESC);
CREATE UNIQUE INDEX workflows_idempotency_idx ON workflows (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE outbox (
  id              TEXT PRIMARY KEY,
  -- one callback per workflow: a second enqueue for the same workflow is ignored
  workflow_id     TEXT NOT NULL UNIQUE,
  url             TEXT NOT NULL,
  body            TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  last_error      TEXT,
  created_at      TEXT NOT NULL,
  delivered_at    TEXT
);
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);

CREATE TABLE audit (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  ts      TEXT NOT NULL,
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  target  TEXT,
  outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'denied')),
  details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_ts_idx ON audit (ts DESC, id DESC);
CREATE INDEX audit_action_idx ON audit (action, ts DESC, id DESC);
CREATE INDEX audit_actor_idx ON audit (actor, ts DESC, id DESC);
CREATE INDEX audit_target_idx ON audit (target, ts DESC, id DESC);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
