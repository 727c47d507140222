// The approvals inbox (docs/api.md §10): tool calls waiting for a person, with allow / deny (and a
// message the agent is told). Servers without approvals answer 404 for the route: the inbox then
// says so instead of failing.
import { useEffect, useState } from 'preact/hooks';
import { api, isMissingRoute, query } from '../api.ts';
import { inputSummary } from '../model/facts.ts';
import { ago, fromNow } from '../model/format.ts';
import { href } from '../router.ts';
import type { Approval, Page } from '../types.ts';
import { Badge, Empty, ErrorNote, errorText, Field, inputValue, usePoll } from './common.tsx';

export interface ApprovalTarget {
  approvalId: string;
  sessionId: string;
  workflowId?: string;
  name: string;
}

export function decide(t: ApprovalTarget, decision: 'allow' | 'deny', message?: string): Promise<unknown> {
  const base = t.workflowId
    ? `/api/workflows/${encodeURIComponent(t.workflowId)}`
    : `/api/sessions/${encodeURIComponent(t.sessionId)}`;
  return api('POST', `${base}/approvals/${encodeURIComponent(t.approvalId)}`, {
    decision,
    ...(message?.trim() ? { message: message.trim() } : {}),
  });
}

/** Allow / Deny with an optional message; reports the decision once the server took it. */
export function ApprovalActions({
  target,
  onDecided,
}: {
  target: ApprovalTarget;
  onDecided?: (decision: 'allow' | 'deny') => void;
}) {
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const act = async (decision: 'allow' | 'deny') => {
    setBusy(true);
    setError(undefined);
    try {
      await decide(target, decision, message);
      setDone(decision === 'allow' ? 'Allowed' : 'Denied');
      onDecided?.(decision);
    } catch (err) {
      setError(isMissingRoute(err) ? 'approvals are not enabled on this server' : errorText(err));
    } finally {
      setBusy(false);
    }
  };
  if (done) return <p class="note ok">{done}; waiting for the agent…</p>;
  return (
    <div class="approval-actions">
      <Field label="Message to the agent (optional)">
        <input value={message} onInput={(e) => setMessage(inputValue(e))} maxLength={4000} />
      </Field>
      <div class="buttons">
        <button
          type="button"
          class="allow"
          disabled={busy}
          data-action="allow"
          aria-label={`Allow ${target.name} (${target.approvalId})`}
          onClick={() => void act('allow')}
        >
          Allow
        </button>
        <button
          type="button"
          class="danger"
          disabled={busy}
          data-action="deny"
          aria-label={`Deny ${target.name} (${target.approvalId})`}
          onClick={() => void act('deny')}
        >
          Deny
        </button>
      </div>
      {error ? (
        <p class="note error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}

export type ApprovalCount = number | 'unsupported' | undefined;

/** Pending approvals, for the badge in the navigation (checked again now and then when unsupported). */
export function useApprovalCount(): ApprovalCount {
  const [count, setCount] = useState<ApprovalCount>(undefined);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    const tick = async () => {
      let next = 5_000;
      try {
        const page = await api<Page<Approval>>(
          'GET',
          `/api/approvals${query({ status: 'pending', limit: 100 })}`,
        );
        if (!stopped) setCount(page.items.length);
      } catch (err) {
        if (isMissingRoute(err)) {
          if (!stopped) setCount('unsupported');
          next = 60_000;
        }
      }
      if (!stopped) timer = setTimeout(() => void tick(), next);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);
  return count;
}

export function ApprovalsPage() {
  const [status, setStatus] = useState<'pending' | 'decided'>('pending');
  const list = usePoll(
    () => api<Page<Approval>>('GET', `/api/approvals${query({ status, limit: 100 })}`),
    [status],
    3_000,
  );
  if (list.error && isMissingRoute(list.error))
    return (
      <section aria-labelledby="approvals-h">
        <h1 id="approvals-h">Approvals</h1>
        <p class="note" data-testid="approvals-off">
          Approvals are not enabled on this server: it runs every tool call without asking. A server with
          approvals (docs/api.md §10) lists here the calls waiting for a decision.
        </p>
      </section>
    );
  // What this page just decided stays in view (with the decision) after the list no longer has it.
  const [recent, setRecent] = useState<Array<Approval & { justDecided: 'allow' | 'deny' }>>([]);
  const listed = list.data?.items ?? [];
  const items: Array<Approval & { justDecided?: 'allow' | 'deny' }> =
    status === 'pending'
      ? [...listed, ...recent.filter((r) => !listed.some((a) => a.approvalId === r.approvalId))]
      : listed;
  return (
    <section aria-labelledby="approvals-h">
      <div class="page-head">
        <h1 id="approvals-h">Approvals</h1>
      </div>
      <fieldset class="tabs">
        <legend class="sr-only">Which approvals</legend>
        {(['pending', 'decided'] as const).map((s) => (
          <button
            type="button"
            key={s}
            class={status === s ? 'tab active' : 'tab'}
            aria-pressed={status === s}
            onClick={() => {
              setStatus(s);
              setRecent([]);
            }}
          >
            {s === 'pending'
              ? `Pending${status === 'pending' && list.data ? ` (${listed.length})` : ''}`
              : 'Decided'}
          </button>
        ))}
      </fieldset>
      <ErrorNote error={list.error} />
      {list.data && items.length === 0 ? (
        <Empty>{status === 'pending' ? 'Nothing waits for a decision.' : 'No decided approvals.'}</Empty>
      ) : null}
      <ul class="cards" data-testid="approvals">
        {items.map((a) => (
          <li class="card approval" key={a.approvalId} data-approval={a.approvalId}>
            <div class="card-head">
              <strong>{a.name}</strong> <span class="mono">{inputSummary(a.name, a.input)}</span>
              <Badge status={a.decision ?? a.status} />
            </div>
            <p class="sub">
              rule <code>{a.rule}</code> ·{' '}
              {a.workflowId ? (
                <a href={href.workflow(a.workflowId)}>workflow {a.workflowId}</a>
              ) : (
                <a href={href.session(a.sessionId)}>session {a.sessionId}</a>
              )}{' '}
              · requested {ago(a.requestedAt)}
              {a.status === 'pending' ? ` · expires ${fromNow(a.expiresAt)}` : ''}
            </p>
            {a.justDecided ? (
              <p class="note ok">
                {a.justDecided === 'allow' ? 'Allowed' : 'Denied'}; waiting for the agent…
              </p>
            ) : a.status === 'pending' ? (
              <ApprovalActions
                target={{
                  approvalId: a.approvalId,
                  sessionId: a.sessionId,
                  name: a.name,
                  ...(a.workflowId ? { workflowId: a.workflowId } : {}),
                }}
                onDecided={(decision) => {
                  setRecent((r) => [...r, { ...a, justDecided: decision }]);
                  list.reload();
                }}
              />
            ) : (
              <p class="sub">
                {a.decision} by {a.by}
                {a.message ? `: ${a.message}` : ''}
              </p>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
