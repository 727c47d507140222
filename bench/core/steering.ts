// Steering latency (docs/api.md §10): while a run's `bash` tool call runs `sleep 60`, a message
// with `mode: "interrupt"` is POSTed; the figure is the time from sending that POST to the new
// run's first request arriving at the mock LLM. In between: the old run is stopped (its sleep
// killed, its partial output stored with its end), the scheduler is woken by that end, claims the
// new run, and the engine builds its request from the whole history.
import WebSocket from 'ws';
import { textsOf } from '../../src/mock-llm/helpers.ts';
import {
  type MessagesRequest,
  type MockLlm,
  startMockLlm,
  textReply,
  toolCall,
} from '../../src/mock-llm/index.ts';
import { createSession } from '../lib/api.ts';
import { startServerProc } from '../lib/server-proc.ts';
import { percentile } from '../lib/stats.ts';

export interface SteeringResult {
  samples: number;
  sandbox: string;
  /** POST sent → the new run's first LLM request */
  p50: number;
  p99: number;
  max: number;
  /** POST sent → 202 received */
  acceptP50: number;
}

function lastUserText(req: MessagesRequest): string {
  const last = [...req.messages].reverse().find((m) => m.role === 'user');
  return last ? textsOf(last.content).join('\n') : '';
}

export async function benchSteering(
  n: number,
  log: (s: string) => void,
  opts: { sandbox?: 'none' | 'bwrap' } = {},
): Promise<SteeringResult> {
  const sandbox = opts.sandbox ?? 'none';
  const mock: MockLlm = await startMockLlm({
    maxRecorded: 0,
    responder: (req) =>
      lastUserText(req).includes('LONG')
        ? toolCall('bash', { command: 'echo go; sleep 60' })
        : textReply('steered'),
  });
  const server = await startServerProc(mock.url, { SANDBOX: sandbox });
  const ws = new WebSocket(server.wsUrl);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    // per session: resolves when the sleeping tool has printed (its process runs), and when the run after it completed
    const printed = new Map<string, () => void>();
    const completed = new Map<string, () => void>();
    ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString()) as {
        type: string;
        event?: { type: string; sessionId: string; data: Record<string, unknown> };
      };
      const e = f.event;
      if (f.type !== 'event' || !e) return;
      if (e.type === 'tool.output' && String(e.data.chunk).includes('go')) printed.get(e.sessionId)?.();
      if (e.type === 'run.completed') completed.get(e.sessionId)?.();
    });
    let steered: ((t: number) => void) | undefined;
    mock.onRequest((r) => {
      const t = performance.now();
      if (lastUserText(r.body as MessagesRequest).includes('STEER')) steered?.(t);
    });
    const post = (id: string, body: object) =>
      fetch(`${server.url}/api/sessions/${id}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const within = <T>(p: Promise<T>, what: string) =>
      Promise.race([
        p,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), 30_000)),
      ]);

    const warmup = 3;
    const latencies: number[] = [];
    const accepts: number[] = [];
    for (let i = 0; i < n + warmup; i++) {
      const id = await createSession(server.url, `steer-${i}`);
      ws.send(JSON.stringify({ type: 'subscribe', sessionId: id }));
      const isPrinted = new Promise<void>((r) => printed.set(id, r));
      const first = await post(id, { content: `do the LONG thing ${i}` });
      if (first.status !== 202) throw new Error(`POST → ${first.status}`);
      await within(isPrinted, 'the sleep to start');
      const isCompleted = new Promise<void>((r) => completed.set(id, r));
      const requested = new Promise<number>((r) => {
        steered = r;
      });
      const sentAt = performance.now();
      const res = await post(id, { content: `STEER ${i}`, mode: 'interrupt' });
      const acceptedAt = performance.now();
      if (res.status !== 202) throw new Error(`POST interrupt → ${res.status}: ${await res.text()}`);
      const t = await within(requested, 'the steered request');
      await within(isCompleted, 'the steered run');
      ws.send(JSON.stringify({ type: 'unsubscribe', sessionId: id }));
      if (i < warmup) continue;
      latencies.push(t - sentAt);
      accepts.push(acceptedAt - sentAt);
    }
    log(`  ${n} interrupts (sandbox ${sandbox})`);
    return {
      samples: n,
      sandbox,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: percentile(latencies, 100),
      acceptP50: percentile(accepts, 50),
    };
  } finally {
    ws.terminate();
    await server.stop();
    await mock.close();
  }
}
