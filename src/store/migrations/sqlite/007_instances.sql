-- 007_instances (SQLite): server instances and their last heartbeat, for the `instance_down` alert
-- (docs/api.md §11). With SQLite there is one instance; the table exists so both dialects share the
-- Store interface.
CREATE TABLE instances (
  id           TEXT PRIMARY KEY,
  version      TEXT NOT NULL,
  started_at   TEXT NOT NULL,
  heartbeat_at TEXT NOT NULL,
  stopped_at   TEXT
) WITHOUT ROWID;
