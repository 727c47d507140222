// Egress gates per sandboxed session: each workspace (session) and policy gets its own listening
// socket with its own tunnel cap, so no session can take the network away from the others. A gate
// lives while processes of its session hold it (each network-enabled process takes a reference
// when it is wrapped and gives it back when it exits) and a little longer, so back-to-back tool
// calls do not churn sockets.
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../observability/logger.ts';
import type { LookupFn, NetPolicy } from './allowlist.ts';
import { type EgressProxy, listenEgressSync } from './egress-proxy.ts';

export interface EgressPoolOptions {
  /** Directory for the sockets (the sandbox runtime dir, private to the server). */
  dir: string;
  policies: Record<'git' | 'tools', NetPolicy>;
  /** Host loopback ports each policy's sandboxes may reach (the LLM proxy, the git credential proxy). */
  loopbackPorts: Record<'git' | 'tools', ReadonlySet<number>>;
  maxTunnels: number;
  idleTimeoutMs: number;
  logger?: Logger;
  lookup?: LookupFn;
  /** How long an unreferenced gate stays open. */
  lingerMs?: number;
}

interface Gate {
  proxy: EgressProxy;
  refs: number;
  timer?: NodeJS.Timeout;
}

export class EgressPool {
  private readonly gates = new Map<string, Gate>();
  private readonly o: EgressPoolOptions;
  private closed = false;

  constructor(o: EgressPoolOptions) {
    this.o = o;
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  }

  /** The socket for `workspace`'s processes under `kind`, with a release for when the process ends. */
  acquire(workspace: string, kind: 'git' | 'tools'): { socketPath: string; release: () => void } {
    if (this.closed) throw new Error('egress pool closed');
    const key = `${kind}:${workspace}`;
    let gate = this.gates.get(key);
    if (!gate) {
      const name = `${createHash('sha256').update(key).digest('hex').slice(0, 20)}.sock`;
      const socketPath = path.join(this.o.dir, name);
      rmSync(socketPath, { force: true }); // a stale socket of a gate that was closed
      gate = {
        proxy: listenEgressSync({
          socketPath,
          policy: this.o.policies[kind],
          loopbackPorts: this.o.loopbackPorts[kind],
          maxTunnels: this.o.maxTunnels,
          idleTimeoutMs: this.o.idleTimeoutMs,
          // Its refusals name the session (a workspace is DATA_DIR/workspaces/<session id>).
          ...(this.o.logger
            ? {
                logger: this.o.logger.child({
                  component: 'egress',
                  sessionId: path.basename(workspace),
                  egress: kind,
                }),
              }
            : {}),
          ...(this.o.lookup ? { lookup: this.o.lookup } : {}),
        }),
        refs: 0,
      };
      this.gates.set(key, gate);
    }
    const g = gate;
    clearTimeout(g.timer);
    g.refs++;
    let released = false;
    return {
      socketPath: g.proxy.socketPath,
      release: () => {
        if (released) return;
        released = true;
        g.refs--;
        if (g.refs > 0 || this.closed) return;
        g.timer = setTimeout(() => {
          if (g.refs > 0 || this.gates.get(key) !== g) return;
          this.gates.delete(key);
          void g.proxy.close().then(() => rmSync(g.proxy.socketPath, { force: true }));
        }, this.o.lingerMs ?? 30_000);
        g.timer.unref();
      },
    };
  }

  /** Open gates and their live tunnels (metrics, tests). */
  snapshot(): Array<{ key: string; refs: number; open: number }> {
    return [...this.gates].map(([key, g]) => ({ key, refs: g.refs, open: g.proxy.open }));
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.gates.values()];
    this.gates.clear();
    for (const g of all) {
      clearTimeout(g.timer);
      await g.proxy.close();
    }
  }
}
