// Store factory: PostgreSQL when DATABASE_URL is set (several instances may share it),
// otherwise embedded SQLite at <DATA_DIR>/agent.db. Migrations run before it is returned.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.ts';
import { PostgresStore } from './postgres/store.ts';
import { SqliteStore } from './sqlite/store.ts';
import type { Store } from './types.ts';

export { PostgresStore } from './postgres/store.ts';
export { SqliteStore } from './sqlite/store.ts';
export type * from './types.ts';

export const SQLITE_FILE = 'agent.db';

export async function createStore(
  config: Pick<Config, 'dataDir' | 'databaseUrl'>,
  options: { onError?: (error: Error) => void; poolSize?: number } = {},
): Promise<Store> {
  let store: Store;
  if (config.databaseUrl) {
    store = new PostgresStore({
      connectionString: config.databaseUrl,
      max: options.poolSize,
      onError: options.onError,
    });
  } else {
    await mkdir(config.dataDir, { recursive: true });
    store = new SqliteStore(path.join(config.dataDir, SQLITE_FILE));
  }
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  return store;
}
