// A fake Telegram Bot API on loopback that validates `sendMessage` the way the real one does:
// POST /bot<token>/sendMessage with a JSON (or form) body holding `chat_id` and `text`; a wrong
// token → 401 {ok:false,error_code:401,description:"Unauthorized"}; an unknown chat → 400 "chat
// not found"; empty or over-long text → 400; anything else → 404. Success answers
// {ok:true,result:{message_id,date,chat,text}}. Accepted messages are recorded in order.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TelegramMessage {
  chatId: string;
  text: string;
  at: number;
}

export interface FakeTelegram {
  /** Use as TELEGRAM_API_URL. */
  url: string;
  messages: TelegramMessage[];
  /** Every request (also refused ones): path and status answered. */
  requests: Array<{ path: string; status: number }>;
  close(): Promise<void>;
}

export async function startFakeTelegram(o: { token: string; chatIds: string[] }): Promise<FakeTelegram> {
  const messages: TelegramMessage[] = [];
  const requests: FakeTelegram['requests'] = [];
  let nextId = 1;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      const answer = (status: number, body: unknown) => {
        requests.push({ path, status });
        const text = JSON.stringify(body);
        res.writeHead(status, {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(text),
        });
        res.end(text);
      };
      const refuse = (code: number, description: string) =>
        answer(code, { ok: false, error_code: code, description });
      const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(path);
      if (!m || req.method !== 'POST') return refuse(404, 'Not Found');
      if (m[1] !== o.token) return refuse(401, 'Unauthorized');
      if (m[2]?.toLowerCase() !== 'sendmessage') return refuse(404, 'Not Found');
      const raw = Buffer.concat(chunks).toString('utf8');
      let params: Record<string, unknown>;
      const type = req.headers['content-type'] ?? '';
      try {
        params = type.startsWith('application/json')
          ? (JSON.parse(raw) as Record<string, unknown>)
          : Object.fromEntries(new URLSearchParams(raw));
      } catch {
        return refuse(400, "Bad Request: can't parse JSON object");
      }
      const chatId = params.chat_id === undefined ? undefined : String(params.chat_id);
      const text = typeof params.text === 'string' ? params.text : undefined;
      if (!chatId) return refuse(400, 'Bad Request: chat_id is empty');
      if (!o.chatIds.includes(chatId)) return refuse(400, 'Bad Request: chat not found');
      if (!text?.trim()) return refuse(400, 'Bad Request: message text is empty');
      if ([...text].length > 4096) return refuse(400, 'Bad Request: message is too long');
      messages.push({ chatId, text, at: Date.now() });
      answer(200, {
        ok: true,
        result: {
          message_id: nextId++,
          date: Math.floor(Date.now() / 1000),
          chat: { id: Number(chatId) || chatId, type: 'private' },
          text,
        },
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    messages,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A webhook receiver on loopback: records every POST (path, headers, raw body); answers 200. */
export interface WebhookReceiver {
  url: string;
  received: Array<{ path: string; headers: http.IncomingHttpHeaders; body: string }>;
  /** Statuses of the next answers, in order (then 200). */
  answer(...statuses: number[]): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: WebhookReceiver['received'] = [];
  const statuses: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    answer: (...s) => statuses.push(...s),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
