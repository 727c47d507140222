// PostgreSQL connection pool with the row normalisation the shared mappers expect: BIGINT →
// number, JSON/JSONB → raw text, TIMESTAMPTZ → canonical ISO string. Every query is sent as a
// named prepared statement (name derived from its text), so each connection parses and plans
// a statement once.
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Value } from '../shared/columns.ts';
import { cleanText } from '../shared/json.ts';
import type { Row } from '../shared/rows.ts';

const OID = { int8: 20, json: 114, jsonb: 3802, timestamptz: 1184, timestamp: 1114 } as const;

const parseTimestamp = pg.types.getTypeParser(OID.timestamptz, 'text') as (v: string) => Date;

function getTypeParser(id: number, format?: 'text' | 'binary'): unknown {
  switch (id) {
    case OID.int8:
      return (v: string) => Number(v);
    case OID.json:
    case OID.jsonb:
      return (v: string) => v;
    case OID.timestamptz:
      return (v: string) => parseTimestamp(v).toISOString();
    default:
      return pg.types.getTypeParser(id, format);
  }
}
const types = { getTypeParser } as unknown as pg.CustomTypesConfig;

export type PgParam = Value | Value[] | null;
export type Queryable = pg.Pool | pg.PoolClient;

export interface PgOptions {
  connectionString: string;
  /** Pool size (connections per server instance). */
  max?: number;
  /** Called for errors of idle pooled connections (server restart, network); default: ignore. */
  onError?: (error: Error) => void;
}

const names = new Map<string, string>();
function statementName(sql: string): string {
  let name = names.get(sql);
  if (!name) {
    name = `s_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
    names.set(sql, name);
  }
  return name;
}

function clean(params: PgParam[]): unknown[] {
  return params.map((v) =>
    typeof v === 'string'
      ? cleanText(v)
      : Array.isArray(v)
        ? v.map((x) => (typeof x === 'string' ? cleanText(x) : x))
        : v,
  );
}

export function createPool(options: PgOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 20,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    types,
  });
  pool.on('error', (error) => options.onError?.(error));
  return pool;
}

export async function query(db: Queryable, sql: string, params: PgParam[] = []): Promise<Row[]> {
  const res = await db.query<Row>({ name: statementName(sql), text: sql, values: clean(params) });
  return res.rows;
}

export async function one(db: Queryable, sql: string, params: PgParam[] = []): Promise<Row | undefined> {
  return (await query(db, sql, params))[0];
}

/** Runs `fn` in a transaction on one pooled connection; rolls back when it throws. */
export async function transaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const value = await fn(client);
    await client.query('COMMIT');
    return value;
  } catch (error) {
    await client.query('ROLLBACK').catch((e: Error) => {
      broken = e; // the connection is unusable: drop it from the pool
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: unknown; constraint?: unknown };
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

export function isForeignKeyViolation(error: unknown): boolean {
  return (error as { code?: unknown })?.code === '23503';
}
