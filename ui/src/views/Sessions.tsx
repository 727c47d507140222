// Sessions: status, engine, repository, age, cost; filter by status, search the loaded ones; the
// first page refreshes every few seconds, so status changes appear without a reload.
import { useState } from 'preact/hooks';
import { ago, cost, repoName } from '../model/format.ts';
import { href } from '../router.ts';
import type { Session } from '../types.ts';
import { Badge, Empty, ErrorNote, Field, inputValue } from './common.tsx';
import { ChoiceFilter, usePagedList } from './list.tsx';

const STATUSES = ['', 'idle', 'queued', 'running', 'waiting'];

export function SessionsPage() {
  const [status, setStatus] = useState('');
  const [search, setSearch] = useState('');
  const { first, items, nextCursor, loadMore, reset } = usePagedList<Session>(
    '/api/sessions',
    { status },
    { search, fields: (s) => [s.id, s.title, s.repoUrl, s.engine] },
  );
  return (
    <section aria-labelledby="sessions-h">
      <div class="page-head">
        <h1 id="sessions-h">Sessions</h1>
        <a class="button" href={href.newSession}>
          New session
        </a>
      </div>
      <div class="filters">
        <ChoiceFilter
          label="Status"
          value={status}
          choices={STATUSES}
          onChange={(v) => {
            setStatus(v);
            reset();
          }}
        />
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
