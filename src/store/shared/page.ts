// Keyset pagination shared by listSessions / listWorkflows / listAudit: newest first by
// (sortColumn DESC, id DESC), filters ANDed, one extra row fetched to know whether a next
// page exists.
import type { Page } from '../types.ts';
import type { Value } from './columns.ts';
import { type CursorKey, encodeCursor } from './cursor.ts';

export interface PageSpec {
  table: string;
  sortColumn: string;
  /** Equality filters; undefined values are ignored. */
  filters: Array<[column: string, value: string | undefined]>;
  /** Lower bound (inclusive) on the sort column. */
  since?: string;
  cursor?: CursorKey<string | number>;
  limit: number;
}

export function pageSql(spec: PageSpec, ph: (i: number) => string): { sql: string; params: Value[] } {
  const where: string[] = [];
  const params: Value[] = [];
  const p = (v: Value): string => {
    params.push(v);
    return ph(params.length);
  };
  for (const [col, v] of spec.filters) if (v !== undefined) where.push(`${col} = ${p(v)}`);
  if (spec.since !== undefined) where.push(`${spec.sortColumn} >= ${p(spec.since)}`);
  if (spec.cursor) where.push(`(${spec.sortColumn}, id) < (${p(spec.cursor.key)}, ${p(spec.cursor.id)})`);
  const sql =
    `SELECT * FROM ${spec.table}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}` +
    ` ORDER BY ${spec.sortColumn} DESC, id DESC LIMIT ${p(pageLimit(spec.limit) + 1)}`;
  return { sql, params };
}

export function pageLimit(limit: number): number {
  return Math.max(1, Math.min(1000, Math.floor(Number.isFinite(limit) ? limit : 50)));
}

export function toPage<T>(items: T[], limit: number, key: (item: T) => [string, string | number]): Page<T> {
  const n = pageLimit(limit);
  if (items.length <= n) return { items, nextCursor: null };
  const page = items.slice(0, n);
  const [k, id] = key(page[n - 1]!);
  return { items: page, nextCursor: encodeCursor(k, id) };
}
