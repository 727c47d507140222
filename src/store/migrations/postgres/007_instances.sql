-- 007_instances (PostgreSQL): the server instances sharing this database and their last heartbeat.
-- An instance that stops cleanly sets stopped_at; one whose heartbeat is older than
-- ALERT_INSTANCE_STALE_MS without having stopped died or hangs (the `instance_down` alert,
-- docs/api.md §11). Rows nobody heard from for a day are deleted by the alert leader.
CREATE TABLE instances (
  id           TEXT COLLATE "C" PRIMARY KEY,
  version      TEXT NOT NULL,
  started_at   TIMESTAMPTZ NOT NULL,
  heartbeat_at TIMESTAMPTZ NOT NULL,
  stopped_at   TIMESTAMPTZ
);
