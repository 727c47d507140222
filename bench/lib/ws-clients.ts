// Parent side of bench/lib/ws-clients-child.ts.
import { spawnChild } from './ipc.ts';
import type { ClientAuth } from './ws-clients-child.ts';

export type { ClientAuth };

export interface Samples {
  emit: number[];
  delay: number[];
  frames: number;
  terminal: number;
  failed: number;
}

export interface WsClients {
  connections: number;
  cpu(): Promise<{ userUs: number; systemUs: number; at: number }>;
  status(): Promise<{ terminal: number; failed: number; frames: number; samples: number }>;
  collect(): Promise<Samples>;
  close(): Promise<void>;
}

export async function startWsClients(
  wsUrl: string,
  sessionIds: string[],
  perConn: number,
  auth?: ClientAuth,
): Promise<WsClients> {
  const child = spawnChild(new URL('./ws-clients-child.ts', import.meta.url).pathname);
  const { connections } = await child.call<{ connections: number }>(
    { type: 'connect', wsUrl, sessionIds, perConn, ...(auth ? { auth } : {}) },
    120_000,
  );
  return {
    connections,
    status: () => child.call({ type: 'status' }),
    cpu: () => child.call({ type: 'cpu' }),
    collect: () => child.call<Samples>({ type: 'collect' }, 120_000),
    async close() {
      await child.call({ type: 'close' }, 5_000).catch(() => {});
      const t = setTimeout(() => void child.kill(), 3_000);
      await child.exited;
      clearTimeout(t);
    },
  };
}
