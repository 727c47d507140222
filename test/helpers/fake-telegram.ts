// A fake Telegram Bot API on loopback that refuses what the real one refuses, for the Tier 1 Worker
// tests: the bot token in the path (`/bot<token>/<method>`, else 401), JSON bodies, the required
// fields of each method, `reply_parameters` pointing at a message of that chat, the inline keyboard's
// shape (each button text plus callback_data of 1–64 bytes), answerCallbackQuery only for a query it
// issued and only once, editMessageText only on its own messages and only with a change.
// It also plays the users: `userMessage` and `pressButton` build the updates Telegram would deliver
// (a button can only be pressed if it is on the message), and `deliver` posts them to a webhook with
// the secret token header, as Telegram does.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TgCall {
  method: string;
  params: Record<string, unknown>;
}

interface InlineButton {
  text: string;
  callback_data: string;
}

export interface TgStoredMessage {
  message_id: number;
  chat: { id: number; type: 'private' };
  from: { id: number; is_bot: boolean; first_name: string; username?: string };
  date: number;
  text: string;
  reply_to_message_id?: number;
  reply_markup?: { inline_keyboard: InlineButton[][] };
}

export interface TgUser {
  id: number;
  first_name: string;
  username?: string;
}

export interface FakeTelegram {
  url: string;
  token: string;
  bot: TgUser;
  calls: TgCall[];
  /** Messages of a chat in order (the user's and the bot's). */
  chat(chatId: number): TgStoredMessage[];
  /** The bot's messages in a chat. */
  botMessages(chatId: number): TgStoredMessage[];
  /** The update Telegram delivers when `user` writes `text` in a private chat with the bot. */
  userMessage(user: TgUser, text: string): Record<string, unknown>;
  /** The update for a press of the button with `callbackData` on the bot's message (throws if it has no such button). */
  pressButton(user: TgUser, chatId: number, messageId: number, callbackData: string): Record<string, unknown>;
  /** POSTs an update to a webhook as Telegram does (JSON, X-Telegram-Bot-Api-Secret-Token). */
  deliver(webhookUrl: string, secretToken: string, update: Record<string, unknown>): Promise<Response>;
  /** Which callback queries were answered, with their text. */
  answered: Map<string, string | undefined>;
  close(): Promise<void>;
}

class BadRequest extends Error {
  readonly code: number;
  readonly description: string;
  constructor(code: number, description: string) {
    super(description);
    this.code = code;
    this.description = description;
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeyboard(markup: unknown): { inline_keyboard: InlineButton[][] } | undefined {
  if (markup === undefined) return undefined;
  if (!isObj(markup) || !Array.isArray(markup.inline_keyboard))
    throw new BadRequest(
      400,
      'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup should be an Array',
    );
  for (const row of markup.inline_keyboard) {
    if (!Array.isArray(row))
      throw new BadRequest(400, "Bad Request: can't parse inline keyboard button: row is not an Array");
    for (const b of row) {
      if (!isObj(b) || typeof b.text !== 'string' || b.text.length === 0)
        throw new BadRequest(
          400,
          "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
        );
      const kinds = ['callback_data', 'url', 'switch_inline_query', 'web_app', 'login_url', 'pay'].filter(
        (k) => k in b,
      );
      if (kinds.length !== 1)
        throw new BadRequest(
          400,
          "Bad Request: can't parse inline keyboard button: exactly one optional field must be used",
        );
      if ('callback_data' in b) {
        const data = b.callback_data;
        const bytes = typeof data === 'string' ? Buffer.byteLength(data) : 0;
        if (bytes < 1 || bytes > 64) throw new BadRequest(400, 'Bad Request: BUTTON_DATA_INVALID');
      }
    }
  }
  return markup as { inline_keyboard: InlineButton[][] };
}

function checkText(v: unknown): string {
  if (typeof v !== 'string' || v.trim().length === 0)
    throw new BadRequest(400, 'Bad Request: message text is empty');
  if (v.length > 4096) throw new BadRequest(400, 'Bad Request: message is too long');
  return v;
}

export async function startFakeTelegram(token = '123456:TEST-token_abcdefghijklmnop'): Promise<FakeTelegram> {
  const bot = { id: Number(token.split(':')[0]), first_name: 'duyetbot', username: 'duyetbot' };
  const calls: TgCall[] = [];
  const chats = new Map<number, TgStoredMessage[]>();
  const nextMessageId = new Map<number, number>();
  const queries = new Map<string, { chatId: number; messageId: number }>();
  const answered = new Map<string, string | undefined>();
  let updateId = 100_000;
  let queryId = 5_000_000;
  const now = () => Math.floor(Date.now() / 1000);

  const chatOf = (id: number) => {
    let c = chats.get(id);
    if (!c) {
      c = [];
      chats.set(id, c);
    }
    return c;
  };
  const store = (
    chatId: number,
    m: Omit<TgStoredMessage, 'message_id' | 'chat' | 'date'>,
  ): TgStoredMessage => {
    const id = (nextMessageId.get(chatId) ?? 0) + 1;
    nextMessageId.set(chatId, id);
    const msg: TgStoredMessage = { message_id: id, chat: { id: chatId, type: 'private' }, date: now(), ...m };
    chatOf(chatId).push(msg);
    return msg;
  };
  const chatIdOf = (v: unknown): number => {
    const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n))
      throw new BadRequest(400, 'Bad Request: chat not found');
    if (!chats.has(n)) throw new BadRequest(400, 'Bad Request: chat not found');
    return n;
  };
  const findMessage = (chatId: number, id: unknown): TgStoredMessage | undefined =>
    chatOf(chatId).find((m) => m.message_id === id);

  const methods: Record<string, (p: Record<string, unknown>) => unknown> = {
    getMe: () => ({ ...bot, is_bot: true }),
    sendMessage(p) {
      const chatId = chatIdOf(p.chat_id);
      const text = checkText(p.text);
      const markup = checkKeyboard(p.reply_markup);
      let replyTo: number | undefined;
      if (p.reply_parameters !== undefined) {
        const rp = p.reply_parameters;
        if (!isObj(rp) || typeof rp.message_id !== 'number')
          throw new BadRequest(400, 'Bad Request: field "message_id" must be of type Integer');
        if (findMessage(chatId, rp.message_id)) replyTo = rp.message_id;
        else if (rp.allow_sending_without_reply !== true)
          throw new BadRequest(400, 'Bad Request: message to be replied not found');
      }
      return store(chatId, {
        from: { ...bot, is_bot: true },
        text,
        ...(replyTo !== undefined ? { reply_to_message_id: replyTo } : {}),
        ...(markup && markup.inline_keyboard.length > 0 ? { reply_markup: markup } : {}),
      });
    },
    answerCallbackQuery(p) {
      const id = p.callback_query_id;
      if (typeof id !== 'string' || !queries.has(id) || answered.has(id))
        throw new BadRequest(
          400,
          'Bad Request: query is too old and response timeout expired or query ID is invalid',
        );
      if (p.text !== undefined && (typeof p.text !== 'string' || p.text.length > 200))
        throw new BadRequest(400, 'Bad Request: text is too long');
      answered.set(id, p.text as string | undefined);
      return true;
    },
    editMessageText(p) {
      const chatId = chatIdOf(p.chat_id);
      const m = findMessage(chatId, p.message_id);
      if (!m) throw new BadRequest(400, 'Bad Request: message to edit not found');
      if (m.from.id !== bot.id) throw new BadRequest(400, "Bad Request: message can't be edited");
      const text = checkText(p.text);
      const markup = checkKeyboard(p.reply_markup);
      const newMarkup = markup && markup.inline_keyboard.length > 0 ? markup : undefined;
      if (text === m.text && JSON.stringify(newMarkup) === JSON.stringify(m.reply_markup))
        throw new BadRequest(400, 'Bad Request: message is not modified');
      m.text = text;
      if (newMarkup) m.reply_markup = newMarkup;
      else delete m.reply_markup;
      return m;
    },
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      const fail = (code: number, description: string) =>
        send(code, { ok: false, error_code: code, description });
      const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(req.url ?? '');
      if (!m) return fail(404, 'Not Found');
      if (m[1] !== token) return fail(401, 'Unauthorized');
      const method = methods[m[2]!];
      if (!method) return fail(404, 'Not Found: method not found');
      if (req.method !== 'POST' || !(req.headers['content-type'] ?? '').startsWith('application/json'))
        return fail(400, 'Bad Request: this fake takes POST with a JSON body only');
      let params: unknown;
      try {
        params = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return fail(400, "Bad Request: can't parse JSON");
      }
      if (!isObj(params)) return fail(400, 'Bad Request: parameters must be a JSON object');
      calls.push({ method: m[2]!, params });
      try {
        send(200, { ok: true, result: method(params) });
      } catch (err) {
        if (err instanceof BadRequest) return fail(err.code, err.description);
        fail(500, `Internal Server Error: ${(err as Error).message}`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    token,
    bot,
    calls,
    answered,
    chat: (chatId) => chatOf(chatId),
    botMessages: (chatId) => chatOf(chatId).filter((m) => m.from.id === bot.id),
    userMessage(user, text) {
      // In a private chat the chat id is the user's id.
      const msg = store(user.id, { from: { ...user, is_bot: false }, text });
      return { update_id: ++updateId, message: msg };
    },
    pressButton(user, chatId, messageId, callbackData) {
      const msg = findMessage(chatId, messageId);
      const buttons = msg?.reply_markup?.inline_keyboard.flat() ?? [];
      if (!buttons.some((b) => b.callback_data === callbackData))
        throw new Error(`message ${messageId} in chat ${chatId} has no button ${callbackData}`);
      const id = String(++queryId);
      queries.set(id, { chatId, messageId });
      return {
        update_id: ++updateId,
        callback_query: {
          id,
          from: { ...user, is_bot: false },
          message: msg,
          chat_instance: `ci${chatId}`,
          data: callbackData,
        },
      };
    },
    deliver: (webhookUrl, secretToken, update) =>
      fetch(webhookUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Telegram-Bot-Api-Secret-Token': secretToken },
        body: JSON.stringify(update),
      }),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
