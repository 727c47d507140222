// What the paged lists (sessions, workflows, the audit log) share: the first page polled (changes
// appear without a reload), later pages on request, rows de-duplicated by id (a polled first page
// overlaps the loaded ones) and optionally filtered by a search over the loaded rows; and the
// filter drop-downs.
import { useState } from 'preact/hooks';
import { api, query } from '../api.ts';
import type { Page } from '../types.ts';
import { Field, inputValue, type Poll, usePoll } from './common.tsx';

const REFRESH_MS = 3_000;
const PAGE = 50;

export function matches(search: string, ...fields: Array<string | undefined>): boolean {
  const q = search.trim().toLowerCase();
  return !q || fields.some((f) => f?.toLowerCase().includes(q));
}

export interface PagedList<T> {
  first: Poll<Page<T>>;
  /** The loaded rows, first page then later ones, each id once, that match the search. */
  items: T[];
  nextCursor: string | null | undefined;
  loadMore(): Promise<void>;
  /** Forgets the later pages (a filter changed). */
  reset(): void;
}

export interface PagedListOptions<T> {
  /** Text to look for in `fields(row)` of the loaded rows (none: every row). */
  search?: string;
  fields?: (row: T) => Array<string | undefined>;
  /** How often the first page is read again (default 3 s). */
  refreshMs?: number;
}

/** `GET path?filters&limit&cursor`, polled and paged (unset filters are left out). */
export function usePagedList<T extends { id: string | number }>(
  path: string,
  filters: Record<string, string | undefined>,
  opts: PagedListOptions<T> = {},
): PagedList<T> {
  const { search = '', fields, refreshMs = REFRESH_MS } = opts;
  const [more, setMore] = useState<{ items: T[]; cursor: string | null } | undefined>();
  const first = usePoll(
    () => api<Page<T>>('GET', `${path}${query({ ...filters, limit: PAGE })}`),
    Object.values(filters),
    refreshMs,
  );
  const nextCursor = more ? more.cursor : first.data?.nextCursor;
  const loadMore = async () => {
    if (!nextCursor) return;
    const page = await api<Page<T>>(
      'GET',
      `${path}${query({ ...filters, limit: PAGE, cursor: nextCursor })}`,
    );
    setMore({ items: [...(more?.items ?? []), ...page.items], cursor: page.nextCursor });
  };
  const seen = new Set<string | number>();
  const items = [...(first.data?.items ?? []), ...(more?.items ?? [])].filter((row) => {
    if (seen.has(row.id)) return false;
    seen.add(row.id);
    return !fields || matches(search, ...fields(row));
  });
  return { first, items, nextCursor, loadMore, reset: () => setMore(undefined) };
}

/** A filter drop-down; the empty choice reads "any". */
export function ChoiceFilter({
  label,
  value,
  choices,
  onChange,
}: {
  label: string;
  value: string;
  choices: readonly string[];
  onChange: (value: string) => void;
}) {
  return (
    <Field label={label}>
      <select value={value} onChange={(e) => onChange(inputValue(e))}>
        {choices.map((c) => (
          <option value={c} key={c}>
            {c || 'any'}
          </option>
        ))}
      </select>
    </Field>
  );
}
