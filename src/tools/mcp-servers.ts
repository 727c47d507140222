// Every configured MCP server (MCP_CONFIG, MCP_SERVER_URL), supervised: connected at start,
// reconnected — a stdio server restarted — with exponential backoff when it dies or never comes
// up, and its state reported (/health, and a `session.notice` in each run that starts without its
// tools) instead of a silent absence. Tools are named `mcp__<server>__<tool>` for both engines and
// carry `kind: 'mcp'`, so the audit and the approval gate see them like any other tool call.
import { type Clock, systemClock, type Timer } from '../clock.ts';
import type { McpServerConfig } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import type { SandboxWrapper } from '../sandbox/types.ts';
import { connectMcpTools, type McpConnection } from './mcp.ts';
import { SandboxedStdioTransport } from './mcp-stdio.ts';
import type { Tool, ToolContext, ToolResult } from './types.ts';

export interface McpServerStatus {
  name: string;
  type: 'stdio' | 'http';
  state: 'connecting' | 'connected' | 'failed';
  tools: number;
  /** Why it is not connected (scrubbed; with a stdio server's exit status and last stderr lines). */
  error?: string;
  /** Times it was lost after having been connected (a stdio server that died, a dropped session). */
  restarts: number;
  /** Failed attempts in a row; the next is `retryInMs` away. */
  failures: number;
}

export interface McpServersOptions {
  servers: readonly McpServerConfig[];
  logger: Logger;
  sandbox: SandboxWrapper;
  /** The state directory of a stdio server (DATA_DIR/mcp/<name>, its own uid on a root server). */
  stateDir(name: string): Promise<string>;
  /** The allowlisted env of sandboxed processes (PATH, LANG, …). */
  baseEnv: Record<string, string>;
  outputLimit: number;
  clock?: Clock;
  /** First retry after a failure; doubles per failure in a row up to `retryMaxMs`. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  connectTimeoutMs?: number;
  callTimeoutMs?: number;
}

class Supervisor {
  state: McpServerStatus['state'] = 'connecting';
  error?: string;
  restarts = 0;
  failures = 0;
  conn?: McpConnection;
  transport?: SandboxedStdioTransport;
  private timer?: Timer;
  private closed = false;
  private pending?: Promise<void>;
  private readonly s: McpServerConfig;
  private readonly o: McpServersOptions;

  constructor(s: McpServerConfig, o: McpServersOptions) {
    this.s = s;
    this.o = o;
  }

  get name(): string {
    return this.s.name;
  }

  /** The attempt in progress, if any. */
  idle(): Promise<void> {
    return this.pending ?? Promise.resolve();
  }

  connect(): Promise<void> {
    this.pending ??= this.attempt().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    this.state = 'connecting';
    const s = this.s;
    let transport: (() => SandboxedStdioTransport) | undefined;
    if (s.type === 'stdio') {
      let dir: string;
      try {
        dir = await this.o.stateDir(s.name);
      } catch (err) {
        return this.failed(`its state directory could not be made: ${(err as Error).message}`);
      }
      const spec = { command: s.command, args: s.args, env: s.env, dir, baseEnv: this.o.baseEnv };
      transport = () => {
        this.transport = new SandboxedStdioTransport(spec, this.o.sandbox);
        return this.transport;
      };
    }
    const conn = await connectMcpTools({
      name: s.name,
      url: s.type === 'http' ? s.url : 'stdio:',
      ...(s.type === 'http' ? { headers: s.headers } : {}),
      ...(transport ? { transport } : {}),
      logger: this.o.logger,
      outputLimit: this.o.outputLimit,
      ...(this.o.connectTimeoutMs ? { connectTimeoutMs: this.o.connectTimeoutMs } : {}),
      ...(this.o.callTimeoutMs ? { callTimeoutMs: this.o.callTimeoutMs } : {}),
      onLost: () => this.lost(),
    });
    if (this.closed) {
      await conn.close();
      return;
    }
    if (!conn.connected) {
      const why = [conn.error, this.transport?.diagnostics].filter(Boolean).join(' — ');
      await this.transport?.close().catch(() => {});
      return this.failed(why || 'it did not connect');
    }
    this.conn = conn;
    this.state = 'connected';
    this.error = undefined;
    this.failures = 0;
  }

  private lost(): void {
    if (this.closed || this.state !== 'connected') return;
    this.restarts++;
    const why = this.transport?.diagnostics || 'the connection was lost';
    const old = this.conn;
    this.conn = undefined;
    void old?.close();
    void this.transport?.close().catch(() => {});
    this.o.logger.warn('MCP server lost; restarting it', { mcp: this.name, why });
    this.failed(why);
  }

  private failed(why: string): void {
    this.state = 'failed';
    this.error = why;
    const base = this.o.retryBaseMs ?? 1000;
    const delay = Math.min(this.o.retryMaxMs ?? 60_000, base * 2 ** Math.min(this.failures, 16));
    this.failures++;
    this.timer?.cancel();
    if (this.closed) return;
    this.timer = (this.o.clock ?? systemClock).setTimeout(() => void this.connect(), delay, { unref: true });
  }

  status(): McpServerStatus {
    return {
      name: this.name,
      type: this.s.type,
      state: this.state,
      tools: this.state === 'connected' ? (this.conn?.tools.length ?? 0) : 0,
      ...(this.error ? { error: this.error } : {}),
      restarts: this.restarts,
      failures: this.failures,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    await this.pending;
    await this.conn?.close();
    await this.transport?.close().catch(() => {});
  }
}

export class McpServers {
  private readonly sup: Supervisor[];

  constructor(o: McpServersOptions) {
    this.sup = o.servers.map((s) => new Supervisor(s, o));
  }

  /** First connection of every server, side by side; never throws (failures retry in the background). */
  async start(): Promise<void> {
    await Promise.all(this.sup.map((s) => s.connect()));
  }

  /**
   * The tools of the connected servers. Each call goes to the server's CURRENT connection, so a run
   * that started before a restart keeps working after it.
   */
  tools(): Tool[] {
    const out: Tool[] = [];
    for (const s of this.sup) {
      if (s.state !== 'connected' || !s.conn) continue;
      for (const t of s.conn.tools) {
        out.push({
          ...t,
          execute: (input: unknown, ctx: ToolContext): Promise<ToolResult> => {
            const current =
              s.state === 'connected' ? s.conn?.tools.find((x) => x.name === t.name) : undefined;
            if (!current)
              return Promise.resolve({
                output: `The ${s.name} MCP server is not available right now (${s.error ?? 'restarting'}); it is being restarted.`,
                isError: true,
              });
            return current.execute(input, ctx);
          },
        });
      }
    }
    return out;
  }

  status(): McpServerStatus[] {
    return this.sup.map((s) => s.status());
  }

  /** Servers whose tools a run starting now would miss, with the reason. */
  unavailable(): Array<{ name: string; error: string }> {
    return this.sup
      .filter((s) => s.state !== 'connected')
      .map((s) => ({ name: s.name, error: s.error ?? 'still connecting' }));
  }

  /** Waits for connection attempts in progress (tests). */
  async settled(): Promise<void> {
    await Promise.all(this.sup.map((s) => s.idle()));
  }

  async close(): Promise<void> {
    await Promise.all(this.sup.map((s) => s.close()));
  }
}
