-- 006_trace_parent (SQLite): the W3C traceparent of the request that queued a run, so the run's
-- span (possibly on another instance, after a restart) joins the request's trace, and of a
-- workflow's callback, which carries it to Tier 1 (docs/api.md §11).
ALTER TABLE runs ADD COLUMN trace_parent TEXT;
ALTER TABLE outbox ADD COLUMN trace_parent TEXT;
