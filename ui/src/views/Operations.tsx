// Operations: what the server is doing (GET /api/stats, docs/api.md §11: queue depth, running runs,
// P50/P95/P99, error rate, alerts firing) and the audit log with filters. The stats are drawn from
// their shape — every object with p50/p95/p99 is a row, an `alerts` list is the alerts — so fields
// the server adds show up without a dashboard release. A server without /api/stats gets counts from
// the session and workflow lists and its /health checks instead.
import { useState } from 'preact/hooks';
import { api, isMissingRoute, query } from '../api.ts';
import { ago } from '../model/format.ts';
import { alertsOf, isObj, type Json, percentileRows, scalarFigures } from '../model/stats.ts';
import type { AuditRecord, Page } from '../types.ts';
import { Badge, Empty, ErrorNote, Field, inputValue, usePoll } from './common.tsx';
import { ChoiceFilter, usePagedList } from './list.tsx';

const fmtMs = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`);

function StatsPanel() {
  const [windowS, setWindowS] = useState('3600');
  const stats = usePoll(() => api<Json>('GET', `/api/stats${query({ window: windowS })}`), [windowS], 5_000);
  if (stats.error && isMissingRoute(stats.error)) return <FallbackStats />;
  const alerts = alertsOf(stats.data);
  const rows = percentileRows(stats.data);
  const figures = scalarFigures(stats.data);
  return (
    <section aria-labelledby="stats-h" data-testid="stats">
      <div class="page-head">
        <h2 id="stats-h">Now</h2>
        <Field label="Window">
          <select value={windowS} onChange={(e) => setWindowS(inputValue(e))}>
            <option value="300">5 minutes</option>
            <option value="3600">1 hour</option>
            <option value="86400">24 hours</option>
          </select>
        </Field>
      </div>
      <ErrorNote error={stats.error} />
      <h3>Alerts firing</h3>
      {stats.data && alerts.length === 0 ? <Empty>No alert is firing.</Empty> : null}
      <ul class="cards" data-testid="alerts">
        {alerts.map((a) => (
          <li class="card alert" key={a.name}>
            <strong>{a.name}</strong> {a.severity ? <Badge status={a.severity} /> : null}
            {a.message ? <p>{a.message}</p> : null}
            {a.value !== undefined ? (
              <p class="sub">
                value {String(a.value)}
                {a.threshold !== undefined ? ` (threshold ${String(a.threshold)})` : ''}
              </p>
            ) : null}
          </li>
        ))}
      </ul>
      {rows.length > 0 ? (
        <>
          <h3>Durations</h3>
          <table class="list compact" data-testid="percentiles">
            <thead>
              <tr>
                <th scope="col">What</th>
                <th scope="col">Count</th>
                <th scope="col">P50</th>
                <th scope="col">P95</th>
                <th scope="col">P99</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.label}>
                  <td data-label="What">{r.label}</td>
                  <td data-label="Count">{r.count ?? '–'}</td>
                  <td data-label="P50">{fmtMs(r.p50)}</td>
                  <td data-label="P95">{fmtMs(r.p95)}</td>
                  <td data-label="P99">{fmtMs(r.p99)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      {figures.length > 0 ? (
        <>
          <h3>Figures</h3>
          <dl class="figures" data-testid="figures">
            {figures.map(([k, v]) => (
              <div key={k}>
                <dt class="mono">{k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
          </dl>
        </>
      ) : null}
    </section>
  );
}

/** Without /api/stats: what the lists and /health tell. */
function FallbackStats() {
  const counts = usePoll(
    async () => {
      const count = async (path: string) => (await api<Page<unknown>>('GET', path)).items.length;
      const [running, queued, waiting, wfPending, wfRunning] = await Promise.all([
        count(`/api/sessions${query({ status: 'running', limit: 500 })}`),
        count(`/api/sessions${query({ status: 'queued', limit: 500 })}`),
        count(`/api/sessions${query({ status: 'waiting', limit: 500 })}`).catch(() => 0),
        count(`/api/workflows${query({ status: 'pending', limit: 500 })}`),
        count(`/api/workflows${query({ status: 'running', limit: 500 })}`),
      ]);
      const health = await fetch('/health', { cache: 'no-store', credentials: 'omit' })
        .then((r) => r.json() as Promise<{ status?: string; checks?: Json }>)
        .catch(() => undefined);
      return { running, queued, waiting, wfPending, wfRunning, health };
    },
    [],
    5_000,
  );
  const c = counts.data;
  return (
    <section aria-labelledby="stats-h" data-testid="stats-fallback">
      <h2 id="stats-h">Now</h2>
      <p class="note">
        This server has no statistics endpoint (/api/stats): latency percentiles, error rate and alerts are
        not available. Counts below come from the session and workflow lists.
      </p>
      <ErrorNote error={counts.error} />
      {c ? (
        <dl class="figures">
          <div>
            <dt>Sessions running</dt>
            <dd>{c.running}</dd>
          </div>
          <div>
            <dt>Sessions queued</dt>
            <dd>{c.queued}</dd>
          </div>
          <div>
            <dt>Sessions waiting for approval</dt>
            <dd>{c.waiting}</dd>
          </div>
          <div>
            <dt>Workflows pending</dt>
            <dd>{c.wfPending}</dd>
          </div>
          <div>
            <dt>Workflows running</dt>
            <dd>{c.wfRunning}</dd>
          </div>
          <div>
            <dt>Health</dt>
            <dd>{c.health?.status ?? 'unknown'}</dd>
          </div>
          {Object.entries(c.health?.checks ?? {}).map(([k, v]) => (
            <div key={k}>
              <dt>check: {k}</dt>
              <dd>{isObj(v) ? String(v.status ?? '') : String(v)}</dd>
            </div>
          ))}
        </dl>
      ) : null}
    </section>
  );
}

const ACTIONS = [
  '',
  'auth.failed',
  'auth.throttled',
  'session.create',
  'session.delete',
  'session.message',
  'session.interrupt',
  'workflow.create',
  'workflow.cancel',
  'tool.call',
];

function AuditPanel() {
  const [action, setAction] = useState('');
  const [actor, setActor] = useState('');
  const [target, setTarget] = useState('');
  const [since, setSince] = useState('');
  // Polled less often than the lists: records only accumulate.
  const {
    first,
    items,
    nextCursor: cursor,
    loadMore,
    reset,
  } = usePagedList<AuditRecord>(
    '/api/audit',
    { action, actor, target, since: since ? new Date(since).toISOString() : undefined },
    { refreshMs: 10_000 },
  );
  return (
    <section aria-labelledby="audit-h">
      <h2 id="audit-h">Audit log</h2>
      <div class="filters">
        <ChoiceFilter
          label="Action"
          value={action}
          choices={ACTIONS}
          onChange={(v) => {
            setAction(v);
            reset();
          }}
        />
        <Field label="Actor">
          <input
            value={actor}
            onChange={(e) => {
              setActor(inputValue(e));
              reset();
            }}
            placeholder="key:…, agent, ip:…"
          />
        </Field>
        <Field label="Target">
          <input
            value={target}
            onChange={(e) => {
              setTarget(inputValue(e));
              reset();
            }}
            placeholder="session or workflow id"
          />
        </Field>
        <Field label="Since">
          <input
            type="datetime-local"
            value={since}
            onChange={(e) => {
              setSince(inputValue(e));
              reset();
            }}
          />
        </Field>
      </div>
      <ErrorNote error={first.error} />
      {first.data && items.length === 0 ? <Empty>No audit records match.</Empty> : null}
      {items.length > 0 ? (
        <table class="list compact" data-testid="audit">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Outcome</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {items.map((r) => (
              <tr key={r.id}>
                <td data-label="When">
                  <time dateTime={r.ts} title={r.ts}>
                    {ago(r.ts)}
                  </time>
                </td>
                <td data-label="Actor" class="mono">
                  {r.actor}
                </td>
                <td data-label="Action">{r.action}</td>
                <td data-label="Target" class="mono">
                  {r.target ?? ''}
                </td>
                <td data-label="Outcome">
                  <Badge status={r.outcome} />
                </td>
                <td data-label="Details" class="mono details">
                  {JSON.stringify(r.details).slice(0, 200)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {cursor ? (
        <button type="button" class="secondary" onClick={() => void loadMore()}>
          Load more
        </button>
      ) : null}
    </section>
  );
}

export function OperationsPage() {
  return (
    <div class="ops">
      <h1>Operations</h1>
      <StatsPanel />
      <AuditPanel />
    </div>
  );
}
