// Workflows: status, type, priority, repository, age, cost; filters and search; cancel from the row.
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { ago, cost, repoName } from '../model/format.ts';
import { href } from '../router.ts';
import type { Workflow } from '../types.ts';
import { Badge, Empty, ErrorNote, Field, inputValue } from './common.tsx';
import { ChoiceFilter, usePagedList } from './list.tsx';

const STATUSES = ['', 'pending', 'running', 'completed', 'failed', 'cancelled'];
const TYPES = ['', 'refactor', 'analysis', 'test', 'deploy', 'custom'];

export const isTerminal = (status: string) => ['completed', 'failed', 'cancelled'].includes(status);

export function WorkflowsPage() {
  const [status, setStatus] = useState('');
  const [type, setType] = useState('');
  const [search, setSearch] = useState('');
  const [actionError, setActionError] = useState<unknown>();
  const { first, items, nextCursor, loadMore, reset } = usePagedList<Workflow>(
    '/api/workflows',
    { status, type },
    { search, fields: (w) => [w.id, w.instructions, w.repoUrl, w.type] },
  );
  const cancel = async (id: string) => {
    setActionError(undefined);
    try {
      await api('POST', `/api/workflows/${encodeURIComponent(id)}/cancel`);
      first.reload();
    } catch (err) {
      setActionError(err);
    }
  };
  return (
    <section aria-labelledby="workflows-h">
      <div class="page-head">
        <h1 id="workflows-h">Workflows</h1>
        <a class="button" href={href.newWorkflow}>
          New workflow
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
        <ChoiceFilter
          label="Type"
          value={type}
          choices={TYPES}
          onChange={(v) => {
            setType(v);
            reset();
          }}
        />
        <Field label="Search">
          <input
            type="search"
            value={search}
            onInput={(e) => setSearch(inputValue(e))}
            placeholder="instructions, id, repo"
          />
        </Field>
      </div>
      <ErrorNote error={first.error ?? actionError} />
      {first.loading && !first.data ? <p aria-busy="true">Loading…</p> : null}
      {first.data && items.length === 0 ? (
        <Empty>No workflows{status || type || search ? ' match' : ' yet'}.</Empty>
      ) : null}
      {items.length > 0 ? (
        <table class="list" data-testid="workflows">
          <thead>
            <tr>
              <th scope="col">Workflow</th>
              <th scope="col">Status</th>
              <th scope="col">Type</th>
              <th scope="col">Repository</th>
              <th scope="col">Age</th>
              <th scope="col">Cost</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((w) => (
              <tr key={w.id} data-id={w.id} data-status={w.status}>
                <td data-label="Workflow">
                  <a href={href.workflow(w.id)}>{w.instructions.slice(0, 80) || w.id}</a>
                  <span class="sub mono">
                    {w.id} · {w.priority}
                  </span>
                </td>
                <td data-label="Status">
                  <Badge status={w.status} />
                </td>
                <td data-label="Type">{w.type}</td>
                <td data-label="Repository" class="mono" title={w.repoUrl}>
                  {repoName(w.repoUrl)}
                </td>
                <td data-label="Age">
                  <time dateTime={w.createdAt}>{ago(w.createdAt)}</time>
                </td>
                <td data-label="Cost">{cost(w.usage.costUsd)}</td>
                <td data-label="">
                  {isTerminal(w.status) ? null : (
                    <button
                      type="button"
                      class="danger small"
                      aria-label={`Cancel workflow ${w.id}`}
                      onClick={() => void cancel(w.id)}
                    >
                      Cancel
                    </button>
                  )}
                </td>
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
