// A session's (or a workflow's) run view: its header (status, usage, workflow result), the live
// log, and the controls a person has: send a message, interrupt, cancel.
//
// Events arrive over the shared WebSocket (live.ts), are folded into a RunModel (exactly once, in
// seq order) and drawn at most once per animation frame. Only the newest WINDOW items are in the
// DOM; earlier ones come in on request, so a run of thousands of events opens fast.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, api } from '../api.ts';
import { loadHistory } from '../history.ts';
import { live } from '../live.ts';
import { safeHttpUrl } from '../model/facts.ts';
import { ago, explainFailure, repoName, usageText } from '../model/format.ts';
import { RunModel } from '../model/run.ts';
import type { Event, Session, Workflow } from '../types.ts';
import { Badge, ErrorNote, errorText, Field, inputValue } from './common.tsx';
import { ItemView, type RunContext } from './RunItems.tsx';
import { isTerminal } from './Workflows.tsx';

/** Items drawn at first (more than a screen, even a tall one); "Show earlier" adds more. */
const WINDOW = 60;
/** Items each "Show earlier" adds. */
const MORE = 150;
/** Events after which the header (status, usage, result) is fetched again. */
const HEADER_EVENTS = new Set([
  'run.queued',
  'run.started',
  'run.completed',
  'run.failed',
  'run.cancelled',
  'workflow.status',
  'approval.requested',
  'approval.resolved',
]);

function announcementOf(e: Event): string | undefined {
  switch (e.type) {
    case 'run.started':
      return 'Run started';
    case 'run.completed':
      return 'Run completed';
    case 'run.failed':
      return `Run failed: ${e.data.error.code}`;
    case 'run.cancelled':
      return 'Run cancelled';
    case 'approval.requested':
      return `Approval requested for ${e.data.name}`;
    case 'workflow.status':
      return `Workflow ${e.data.status}`;
    default:
      return undefined;
  }
}

/** Redraws at most once per frame (and at least every 100 ms when frames are throttled). */
function useFrameTicker(): [number, () => void] {
  const [tick, setTick] = useState(0);
  const pending = useRef<{ raf: number; timer: ReturnType<typeof setTimeout> } | undefined>(undefined);
  const schedule = useMemo(
    () => () => {
      if (pending.current) return;
      const fire = () => {
        if (!pending.current) return;
        cancelAnimationFrame(pending.current.raf);
        clearTimeout(pending.current.timer);
        pending.current = undefined;
        setTick((t) => t + 1);
      };
      pending.current = { raf: requestAnimationFrame(fire), timer: setTimeout(fire, 100) };
    },
    [],
  );
  useEffect(
    () => () => {
      if (pending.current) {
        cancelAnimationFrame(pending.current.raf);
        clearTimeout(pending.current.timer);
      }
    },
    [],
  );
  return [tick, schedule];
}

export function RunView({ sessionId, workflowId }: { sessionId: string; workflowId?: string }) {
  const model = useMemo(() => new RunModel(), [sessionId]);
  const ctx = useMemo<RunContext>(
    () => ({ sessionId, ...(workflowId ? { workflowId } : {}) }),
    [sessionId, workflowId],
  );
  const [, schedule] = useFrameTicker();
  const [session, setSession] = useState<Session>();
  const [workflow, setWorkflow] = useState<Workflow>();
  const [loadError, setLoadError] = useState<unknown>();
  const [streamError, setStreamError] = useState<string>();
  const [loadedUpTo, setLoadedUpTo] = useState<number>();
  const [windowSize, setWindowSize] = useState(WINDOW);
  const [announce, setAnnounce] = useState('');
  const follow = useRef(true);

  const refreshHeader = useMemo(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async (): Promise<Session | undefined> => {
      try {
        const [wf, sess] = await Promise.all([
          workflowId ? api<Workflow>('GET', `/api/workflows/${encodeURIComponent(workflowId)}`) : undefined,
          api<Session>('GET', `/api/sessions/${encodeURIComponent(sessionId)}`),
        ]);
        if (wf) setWorkflow(wf);
        setSession(sess);
        setLoadError(undefined);
        return sess;
      } catch (err) {
        setLoadError(err);
        return undefined;
      }
    };
    return (now = false): Promise<Session | undefined> | undefined => {
      clearTimeout(timer);
      if (now) return load();
      timer = setTimeout(() => void load(), 250);
      return undefined;
    };
  }, [sessionId, workflowId]);

  useEffect(() => {
    // The session's lastSeq lets the history fetch all its pages at once (history.ts).
    const header = refreshHeader(true);
    setLoadedUpTo(undefined);
    setWindowSize(WINDOW);
    follow.current = true;
    let stopped = false;
    let unsubscribe = () => {};
    const onEvent = (e: Event) => {
      const r = model.apply(e);
      if (r === 'gap') return live.resubscribe(sessionId);
      if (r !== 'applied') return;
      if (HEADER_EVENTS.has(e.type)) refreshHeader();
      const say = announcementOf(e);
      if (say) setAnnounce(say);
      schedule();
    };
    const followLive = () => {
      if (stopped) return;
      unsubscribe = live.subscribe(sessionId, {
        after: () => model.lastSeq,
        onSubscribed: (lastSeq) => {
          setStreamError(undefined);
          setLoadedUpTo((prev) => prev ?? lastSeq);
          schedule();
        },
        onEvent,
        onError: (code, message) => {
          setStreamError(`${message} (${code})`);
          if (code !== 'not_found') setTimeout(() => live.resubscribe(sessionId), 1_000);
        },
      });
    };
    // The stored history in parallel pages first, drawn once; then the live tail from its last seq.
    // (If the pages fail, the subscription replays whatever is missing.)
    performance.mark('ui:history');
    loadHistory(
      sessionId,
      model.lastSeq,
      (events) => {
        for (const e of events) model.apply(e);
      },
      () => stopped,
      header?.then((sess) => sess?.lastSeq ?? 0),
    ).then(
      (lastSeq) => {
        if (stopped) return;
        performance.mark('ui:history-applied');
        setLoadedUpTo(lastSeq);
        schedule();
        followLive();
      },
      () => followLive(),
    );
    const onScroll = () => {
      follow.current = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 160;
    };
    window.addEventListener('scroll', onScroll, { passive: true });
    return () => {
      stopped = true;
      unsubscribe();
      window.removeEventListener('scroll', onScroll);
    };
  }, [sessionId, model, refreshHeader, schedule]);

  useLayoutEffect(() => {
    if (follow.current) window.scrollTo(0, document.documentElement.scrollHeight);
  });

  const items = model.items;
  const start = Math.max(0, items.length - windowSize);
  const loaded = loadedUpTo !== undefined && model.lastSeq >= loadedUpTo;
  const title = workflow ? `${workflow.type} workflow` : session?.title || sessionId;

  return (
    <section aria-labelledby="run-h" class="run-view">
      <header class="run-head">
        <h1 id="run-h">{title}</h1>
        <p class="sub mono">{workflowId ?? sessionId}</p>
        <ErrorNote error={loadError} />
        {session ? (
          <dl class="facts">
            <div>
              <dt>Status</dt>
              <dd data-testid="status">
                <Badge status={workflow?.status ?? session.status} />
              </dd>
            </div>
            <div>
              <dt>Engine</dt>
              <dd>
                {session.engine} · {session.model}
              </dd>
            </div>
            <div>
              <dt>Repository</dt>
              <dd class="mono" title={session.repoUrl}>
                {repoName(session.repoUrl)}
                {session.branch ? ` @ ${session.branch}` : ''}
              </dd>
            </div>
            <div>
              <dt>Usage</dt>
              <dd data-testid="usage">{usageText(workflow?.usage ?? session.usage)}</dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd>{ago(session.createdAt)}</dd>
            </div>
          </dl>
        ) : null}
        {workflow ? <WorkflowSummary workflow={workflow} onChanged={() => refreshHeader(true)} /> : null}
      </header>
      <p class="sr-only" aria-live="polite">
        {announce}
      </p>
      {streamError ? (
        <p class="note error" role="alert">
          Event stream: {streamError}
        </p>
      ) : null}
      {start > 0 ? (
        <button type="button" class="secondary" onClick={() => setWindowSize((w) => w + MORE)}>
          Show {Math.min(MORE, start)} earlier items ({start} hidden)
        </button>
      ) : null}
      <ol
        class="log"
        aria-label="Run events"
        data-testid="log"
        data-last-seq={model.lastSeq}
        data-applied={model.applied}
        data-loaded={loaded ? 'true' : 'false'}
      >
        {/* Nothing is drawn while the history loads: one render of its newest items, not one per page. */}
        {loaded
          ? items.slice(start).map((item) => <ItemView key={item.key} item={item} rev={item.rev} ctx={ctx} />)
          : null}
      </ol>
      {loaded ? null : (
        <p aria-busy="true" class="sub">
          Loading events…
        </p>
      )}
      {loaded && items.length === 0 ? <p class="empty">No events yet.</p> : null}
      {workflowId ? null : (
        <Composer sessionId={sessionId} running={session !== undefined && session.status !== 'idle'} />
      )}
    </section>
  );
}

function WorkflowSummary({ workflow: w, onChanged }: { workflow: Workflow; onChanged: () => void }) {
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const cancel = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api('POST', `/api/workflows/${encodeURIComponent(w.id)}/cancel`);
      onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const pr = safeHttpUrl(w.result?.pullRequestUrl);
  return (
    <div class="workflow-summary">
      <p class="instructions">{w.instructions}</p>
      <p class="sub">
        priority {w.priority} · attempts {w.attempts}
        {w.branch ? ` · branch ${w.branch}` : ''}
      </p>
      {w.result ? (
        <div class="result" data-testid="result">
          <p>{w.result.summary}</p>
          {w.result.commits?.length ? (
            <ul class="commits">
              {w.result.commits.map((c) => (
                <li key={c.sha}>
                  <code>{c.sha.slice(0, 10)}</code> {c.message}
                </li>
              ))}
            </ul>
          ) : null}
          {w.result.changedFiles?.length ? (
            <p class="sub mono">changed: {w.result.changedFiles.join(', ')}</p>
          ) : null}
          {pr ? (
            <p>
              Pull request:{' '}
              <a href={pr} target="_blank" rel="noopener noreferrer" data-testid="pr-link">
                {pr}
              </a>
            </p>
          ) : null}
        </div>
      ) : null}
      {w.error ? (
        <p class="note error" role="note">
          <code>{w.error.code}</code>: {explainFailure(w.error.code)}. {w.error.message}
        </p>
      ) : null}
      {isTerminal(w.status) ? null : (
        <button type="button" class="danger" disabled={busy} onClick={() => void cancel()}>
          Cancel workflow
        </button>
      )}
      <ErrorNote error={error} />
    </div>
  );
}

function Composer({ sessionId, running }: { sessionId: string; running: boolean }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const base = `/api/sessions/${encodeURIComponent(sessionId)}`;
  const send = async (mode: 'queue' | 'interrupt') => {
    if (!text.trim()) return;
    setBusy(true);
    setError(undefined);
    try {
      if (mode === 'queue') await api('POST', `${base}/messages`, { content: text });
      else {
        try {
          await api('POST', `${base}/messages`, { content: text, mode: 'interrupt' });
        } catch (err) {
          // A server without message modes (docs/api.md §10): interrupt, then queue.
          if (!(err instanceof ApiError && err.status === 400 && /mode/.test(err.message))) throw err;
          await api('POST', `${base}/interrupt`);
          await api('POST', `${base}/messages`, { content: text });
        }
      }
      setText('');
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const interrupt = async () => {
    setError(undefined);
    try {
      await api('POST', `${base}/interrupt`);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void send('queue');
      }}
    >
      <Field label="Message">
        <textarea
          name="message"
          rows={3}
          value={text}
          onInput={(e) => setText(inputValue(e))}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
              e.preventDefault();
              void send('queue');
            }
          }}
        />
      </Field>
      <div class="buttons">
        <button type="submit" disabled={busy || !text.trim()}>
          Send
        </button>
        <button
          type="button"
          class="secondary"
          disabled={busy || !text.trim()}
          onClick={() => void send('interrupt')}
        >
          Send now (interrupt)
        </button>
        <button type="button" class="danger" disabled={!running} onClick={() => void interrupt()}>
          Interrupt
        </button>
      </div>
      {error ? (
        <p class="note error" role="alert">
          {error}
        </p>
      ) : null}
    </form>
  );
}
