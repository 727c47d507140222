-- 005_fair_queue (PostgreSQL): fair claiming across credentials (tenants) within a priority, and
-- the per-credential cap on running runs (MAX_RUNS_PER_KEY). A run always has a credential from
-- now on: '' stands for "none recorded" (runs queued before 003, internal callers).
UPDATE runs SET credential = '' WHERE credential IS NULL AND status IN ('queued', 'running');
-- the credentials with queued runs at a priority (skip scan) and FIFO within one of them
CREATE INDEX runs_fair_idx ON runs (status, priority, credential, queue_seq);

-- Claims the next run fairly (see postgres/runs.ts): the highest priority with a runnable run;
-- within it, the credential with the fewest running runs, then the one least recently served (its
-- last run ended longest ago: runs_credential_completed_idx of 003), then the one whose oldest
-- queued run is oldest; FIFO within the credential. A credential with
-- p_max_per_key running runs (all instances) is skipped (0 = no cap). With a cap, claims serialise
-- on one transaction-level advisory lock taken before anything is counted, so two instances never
-- pass it (one lock per transaction: no lock-order deadlocks; without a cap nothing is locked).
-- p_engines (NULL = any) restricts the claim to sessions on those engines (memory admission).
-- Candidates are locked with their session row (SKIP LOCKED) and `running_run_id IS NULL` is
-- re-checked on the newest session row version, as in claim_next_run (001).
CREATE FUNCTION claim_next_run_fair(
  p_worker TEXT, p_lease_until TIMESTAMPTZ, p_now TIMESTAMPTZ, p_max_per_key INTEGER, p_engines TEXT[]
) RETURNS SETOF runs LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  prio INTEGER;
  cred TEXT;
  cand RECORD;
  claimed runs;
BEGIN
  IF p_max_per_key > 0 THEN
    PERFORM pg_advisory_xact_lock(734511, 0);
  END IF;
  SELECT max(priority) INTO prio FROM runs WHERE status = 'queued';
  WHILE prio IS NOT NULL LOOP
    FOR cand IN
      WITH RECURSIVE creds(c) AS (
        SELECT min(credential) FROM runs WHERE status = 'queued' AND priority = prio
        UNION ALL
        SELECT (SELECT min(credential) FROM runs
                 WHERE status = 'queued' AND priority = prio AND credential > creds.c)
          FROM creds WHERE creds.c IS NOT NULL
      )
      SELECT creds.c,
             (SELECT count(*) FROM runs WHERE status = 'running' AND credential = creds.c) AS running,
             (SELECT max(completed_at) FROM runs WHERE credential = creds.c) AS last_served,
             (SELECT min(queue_seq) FROM runs
               WHERE status = 'queued' AND priority = prio AND credential = creds.c) AS head
        FROM creds WHERE creds.c IS NOT NULL
       ORDER BY running, last_served NULLS FIRST, head
    LOOP
      cred := cand.c;
      IF p_max_per_key > 0 AND cand.running >= p_max_per_key THEN CONTINUE; END IF;
      WITH next AS (
        SELECT r.id, r.session_id
          FROM runs r JOIN sessions s ON s.id = r.session_id
         WHERE r.status = 'queued' AND r.priority = prio AND r.credential = cred
           AND s.running_run_id IS NULL
           AND (p_engines IS NULL OR s.engine = ANY (p_engines))
         ORDER BY r.queue_seq
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
      RETURNING runs.* INTO claimed;
      IF FOUND THEN
        RETURN NEXT claimed;
        RETURN;
      END IF;
    END LOOP;
    SELECT max(priority) INTO prio FROM runs WHERE status = 'queued' AND priority < prio;
  END LOOP;
  RETURN;
END
$$;
