// A small WebSocket test client on the `ws` library: collects frames, waits for conditions.
import WebSocket from 'ws';

export interface Frame {
  type: string;
  [k: string]: unknown;
}

export class WsClient {
  readonly frames: Frame[] = [];
  private ws: WebSocket;
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static connect(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.once('open', () => resolve(new WsClient(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  events(
    sessionId?: string,
  ): Array<{ seq: number; type: string; sessionId: string; data: Record<string, unknown> }> {
    return this.frames
      .filter((f) => f.type === 'event')
      .map((f) => f.event as { seq: number; type: string; sessionId: string; data: Record<string, unknown> })
      .filter((e) => !sessionId || e.sessionId === sessionId);
  }

  async waitFor(pred: (frames: Frame[]) => boolean, timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred(this.frames)) {
      if (this.closed) throw new Error('socket closed while waiting');
      const left = end - Date.now();
      if (left <= 0) throw new Error(`ws wait timed out; frames: ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((r) => {
      this.ws.once('close', () => r());
      this.ws.close();
    });
  }

  terminate(): void {
    this.ws.terminate();
  }
}
