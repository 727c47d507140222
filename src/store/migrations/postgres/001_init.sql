-- 001_init (PostgreSQL): the whole schema. Same shape as sqlite/001_init.sql, with JSONB,
-- TIMESTAMPTZ (always written with millisecond precision), BOOLEAN and identity columns.

CREATE TABLE sessions (
  id              TEXT COLLATE "C" PRIMARY KEY,
  title           TEXT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'idle',
  engine          TEXT NOT NULL,
  model           TEXT NOT NULL,
  repo_url        TEXT,
  branch          TEXT,
  system_prompt   TEXT,
  metadata        JSONB NOT NULL DEFAULT '{}',
  last_seq        BIGINT NOT NULL DEFAULT 0,
  input_tokens    BIGINT NOT NULL DEFAULT 0,
  output_tokens   BIGINT NOT NULL DEFAULT 0,
  cost_usd        DOUBLE PRECISION NOT NULL DEFAULT 0,
  engine_state    JSONB NOT NULL DEFAULT '{}',
  workflow_id     TEXT,
  workspace_ready BOOLEAN NOT NULL DEFAULT false,
  -- the run of this session currently claimed by a worker (at most one); maintained by the store
  running_run_id  TEXT,
  created_at      TIMESTAMPTZ NOT NULL,
  updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_created_idx ON sessions (created_at DESC, id DESC);
CREATE INDEX sessions_status_created_idx ON sessions (status, created_at DESC, id DESC);

CREATE TABLE messages (
  ord        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  run_id     TEXT,
  role       TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
  text       TEXT NOT NULL,
  content    JSONB,
  created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_session_idx ON messages (session_id, ord);

CREATE TABLE runs (
  id               TEXT PRIMARY KEY,
  -- creation order: FIFO within a priority
  queue_seq        BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
  session_id       TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  workflow_id      TEXT,
  status           TEXT NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  input            TEXT NOT NULL,
  idempotency_key  TEXT,
  priority         INTEGER NOT NULL DEFAULT 0,
  attempts         INTEGER NOT NULL DEFAULT 0,
  worker_id        TEXT,
  lease_expires_at TIMESTAMPTZ,
  cancel_requested BOOLEAN NOT NULL DEFAULT false,
  deadline_at      TIMESTAMPTZ,
  created_at       TIMESTAMPTZ NOT NULL,
  started_at       TIMESTAMPTZ,
  completed_at     TIMESTAMPTZ,
  stop_reason      TEXT,
  error            JSONB,
  input_tokens     BIGINT NOT NULL DEFAULT 0,
  output_tokens    BIGINT NOT NULL DEFAULT 0,
  cost_usd         DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX runs_queue_idx ON runs (status, priority DESC, queue_seq);
CREATE INDEX runs_session_idx ON runs (session_id, queue_seq);
CREATE UNIQUE INDEX runs_idempotency_idx ON runs (session_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_lease_idx ON runs (lease_expires_at) WHERE status = 'running';

-- Claims the next runnable run (see postgres/runs.ts). A function so that the plan is pinned
-- to the queue index (enable_sort = off): right after a burst of inserts, before autovacuum
-- has analysed `runs`, the planner would otherwise sort every queued run on each claim.
-- Candidates are locked with their session row (SKIP LOCKED); `running_run_id IS NULL` is
-- re-checked on the newest session row version, so two claimers never start two runs of one
-- session, nor the same run.
CREATE FUNCTION claim_next_run(p_worker TEXT, p_lease_until TIMESTAMPTZ, p_now TIMESTAMPTZ)
RETURNS SETOF runs LANGUAGE sql VOLATILE SET enable_sort = off AS $$
  WITH next AS (
    SELECT r.id, r.session_id
      FROM runs r JOIN sessions s ON s.id = r.session_id
     WHERE r.status = 'queued' AND s.running_run_id IS NULL
     ORDER BY r.priority DESC, r.queue_seq
     LIMIT 1
       FOR NO KEY UPDATE OF r, s SKIP LOCKED
  ), taken AS (
    UPDATE sessions SET running_run_id = next.id FROM next WHERE sessions.id = next.session_id
  )
  UPDATE runs
     SET status = 'running', worker_id = p_worker, lease_expires_at = p_lease_until,
         attempts = runs.attempts + 1, started_at = COALESCE(runs.started_at, p_now)
    FROM next
   WHERE runs.id = next.id
  RETURNING runs.*
$$;

CREATE TABLE events (
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  seq        BIGINT NOT NULL,
  run_id     TEXT,
  type       TEXT NOT NULL,
  ts         TIMESTAMPTZ NOT NULL,
  data       JSONB NOT NULL,
  PRIMARY KEY (session_id, seq)
);

CREATE TABLE workflows (
  id              TEXT COLLATE "C" PRIMARY KEY,
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
  timeout_ms      BIGINT NOT NULL,
  payload         JSONB NOT NULL DEFAULT '{}',
  metadata        JSONB NOT NULL DEFAULT '{}',
  session_id      TEXT NOT NULL,
  run_id          TEXT NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  created_at      TIMESTAMPTZ NOT NULL,
  started_at      TIMESTAMPTZ,
  completed_at    TIMESTAMPTZ,
  result          JSONB,
  error           JSONB,
  input_tokens    BIGINT NOT NULL DEFAULT 0,
  output_tokens   BIGINT NOT NULL DEFAULT 0,
  cost_usd        DOUBLE PRECISION NOT NULL DEFAULT 0
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
  next_attempt_at TIMESTAMPTZ NOT NULL,
  last_error      TEXT,
  created_at      TIMESTAMPTZ NOT NULL,
  delivered_at    TIMESTAMPTZ
);
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);

CREATE TABLE audit (
  id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ts      TIMESTAMPTZ NOT NULL,
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  target  TEXT,
  outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'denied')),
  details JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_ts_idx ON audit (ts DESC, id DESC);
CREATE INDEX audit_action_idx ON audit (action, ts DESC, id DESC);
CREATE INDEX audit_actor_idx ON audit (actor, ts DESC, id DESC);
CREATE INDEX audit_target_idx ON audit (target, ts DESC, id DESC);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit is append-only';
END
$$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
