// Sessions: status, engine, repository, age, cost; filter by status, search the loaded ones; the
// first page refreshes every few seconds, so status changes appear without a reload.
import { useState } from 'preact/hooks';
import { api, query } from '../api.ts';
import { ago, cost, repoName } from '../model/format.ts';
import { href } from '../router.ts';
import type { Page, Session } from '../types.ts';
import { Badge, Empty, ErrorNote, Field, inputValue, usePoll } from './common.tsx';

const STATUSES = ['', 'idle', 'queued', 'running', 'waiting'];
const REFRESH_MS = 3_000;

export function matches(search: string, ...fields: Array<string | undefined>): boolean {
  const q = search.trim().toLowerCase();
  return !q || fields.some((f) => f?.toLowerCase().includes(q));
}

export function SessionsPage() {
  const [status, setStatus] = useState('');
  const [search, setSearch] = useState('');
  const [more, setMore] = useState<{ items: Session[]; cursor: string | null } | undefined>();
  const first = usePoll(
    () => api<Page<Session>>('GET', `/api/sessions${query({ status, limit: 50 })}`),
    [status],
    REFRESH_MS,
  );
  const loadMore = async () => {
    const cursor = more ? more.cursor : first.data?.nextCursor;
    if (!cursor) return;
    const page = await api<Page<Session>>('GET', `/api/sessions${query({ status, limit: 50, cursor })}`);
    setMore({ items: [...(more?.items ?? []), ...page.items], cursor: page.nextCursor });
  };
  const seen = new Set<string>();
  const items = [...(first.data?.items ?? []), ...(more?.items ?? [])].filter((s) => {
    if (seen.has(s.id)) return false;
    seen.add(s.id);
    return matches(search, s.id, s.title, s.repoUrl, s.engine);
  });
  const nextCursor = more ? more.cursor : first.data?.nextCursor;
  return (
    <section aria-labelledby="sessions-h">
      <div class="page-head">
        <h1 id="sessions-h">Sessions</h1>
        <a class="button" href={href.newSession}>
          New session
        </a>
      </div>
      <div class="filters">
        <Field label="Status">
          <select
            value={status}
            onChange={(e) => {
              setStatus(inputValue(e));
              setMore(undefined);
            }}
          >
            {STATUSES.map((s) => (
              <option value={s} key={s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Search">
          <input
            type="search"
            value={search}
            onInput={(e) => setSearch(inputValue(e))}
            placeholder="title, id, repo"
          />
        </Field>
      </div>
      <ErrorNote error={first.error} />
      {first.loading && !first.data ? <p aria-busy="true">Loading…</p> : null}
      {first.data && items.length === 0 ? (
        <Empty>No sessions{status || search ? ' match' : ' yet'}.</Empty>
      ) : null}
      {items.length > 0 ? (
        <table class="list" data-testid="sessions">
          <thead>
            <tr>
              <th scope="col">Session</th>
              <th scope="col">Status</th>
              <th scope="col">Engine</th>
              <th scope="col">Repository</th>
              <th scope="col">Age</th>
              <th scope="col">Cost</th>
            </tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <tr key={s.id} data-id={s.id} data-status={s.status}>
                <td data-label="Session">
                  <a href={href.session(s.id)}>{s.title || s.id}</a>
                  <span class="sub mono">{s.id}</span>
                </td>
                <td data-label="Status">
                  <Badge status={s.status} />
                </td>
                <td data-label="Engine">{s.engine}</td>
                <td data-label="Repository" class="mono" title={s.repoUrl}>
                  {repoName(s.repoUrl)}
                </td>
                <td data-label="Age">
                  <time dateTime={s.createdAt}>{ago(s.createdAt)}</time>
                </td>
                <td data-label="Cost">{cost(s.usage.costUsd)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {nextCursor ? (
        <button type="button" class="secondary" onClick={() => void loadMore()}>
          Load more
        </button>
      ) : null}
    </section>
  );
}
