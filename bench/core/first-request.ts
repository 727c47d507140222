// Time from "message accepted" (the client has the HTTP 202) to the run's first request arriving at
// the mock LLM. Sequential: each message's run completes before the next is sent, over a few
// sessions in turn (so the history sent to the LLM stays small but is not empty).
import WebSocket from 'ws';
import { type MockLlm, startMockLlm, textReply } from '../../src/mock-llm/index.ts';
import { createSession } from '../lib/api.ts';
import { startServerProc } from '../lib/server-proc.ts';
import { percentile } from '../lib/stats.ts';

export interface FirstRequestResult {
  messages: number;
  sessions: number;
  /** 202 received → LLM request received (negative: the request arrived first; counted as 0) */
  p50: number;
  p99: number;
  max: number;
  arrivedBefore202: number;
  /** POST sent → LLM request received */
  sendP50: number;
  sendP99: number;
}

export async function benchFirstRequest(
  m: number,
  nSessions: number,
  log: (s: string) => void,
): Promise<FirstRequestResult> {
  const mock: MockLlm = await startMockLlm({ responder: () => textReply('ok'), maxRecorded: 0 });
  const server = await startServerProc(mock.url);
  const ws = new WebSocket(server.wsUrl);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const finished = new Map<string, () => void>();
    const done = new Set<string>();
    ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString()) as { type: string; event?: { type: string; runId?: string } };
      const e = f.event;
      if (f.type !== 'event' || !e?.runId) return;
      if (e.type === 'run.completed' || e.type === 'run.failed' || e.type === 'run.cancelled') {
        done.add(e.runId);
        finished.get(e.runId)?.();
      }
    });
    const sessions: string[] = [];
    for (let i = 0; i < nSessions; i++) sessions.push(await createSession(server.url, `latency-${i}`));
    for (const id of sessions) ws.send(JSON.stringify({ type: 'subscribe', sessionId: id }));

    let nextRequest: ((t: number) => void) | undefined;
    mock.onRequest(() => {
      const t = performance.now();
      nextRequest?.(t);
      nextRequest = undefined;
    });

    const warmup = 5;
    const accepted: number[] = [];
    const fromSend: number[] = [];
    let before = 0;
    for (let i = 0; i < m + warmup; i++) {
      const sid = sessions[i % sessions.length]!;
      const reqAt = new Promise<number>((r) => {
        nextRequest = r;
      });
      const sentAt = performance.now();
      const res = await fetch(`${server.url}/api/sessions/${sid}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ content: `message ${i}` }),
      });
      const acceptedAt = performance.now();
      if (res.status !== 202) throw new Error(`POST messages → ${res.status}: ${await res.text()}`);
      const { runId } = (await res.json()) as { runId: string };
      const t = await reqAt;
      await new Promise<void>((resolve, reject) => {
        if (done.has(runId)) return resolve();
        const timer = setTimeout(() => reject(new Error(`run ${runId} did not finish`)), 30_000);
        finished.set(runId, () => {
          clearTimeout(timer);
          finished.delete(runId);
          resolve();
        });
      });
      if (i < warmup) continue;
      const d = t - acceptedAt;
      if (d < 0) before++;
      accepted.push(Math.max(0, d));
      fromSend.push(t - sentAt);
    }
    log(`  ${m} messages over ${nSessions} sessions`);
    return {
      messages: m,
      sessions: nSessions,
      p50: percentile(accepted, 50),
      p99: percentile(accepted, 99),
      max: percentile(accepted, 100),
      arrivedBefore202: before,
      sendP50: percentile(fromSend, 50),
      sendP99: percentile(fromSend, 99),
    };
  } finally {
    ws.terminate();
    await server.stop();
    await mock.close();
  }
}
