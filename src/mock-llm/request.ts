// Reading and validating incoming requests: body size cap, API key, Messages body, responder turns.
import type { IncomingMessage } from 'node:http';
import type { MockTurn } from './types.ts';

const MAX_BODY_BYTES = 64 * 1024 * 1024;

export type Headers = Record<string, string | string[] | undefined>;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      if (tooLarge) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(tooLarge ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('client closed the connection before the body was complete'));
    });
  });
}

export function checkApiKey(headers: Headers, required: string): boolean {
  const key = headers['x-api-key'];
  if (typeof key === 'string' && key === required) return true;
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth) && auth.replace(/^Bearer\s+/i, '') === required)
    return true;
  return false;
}

/** Returns an error message, or null when the body is a valid Messages request. */
export function validateMessages(body: unknown): string | null {
  if (!isRecord(body)) return 'Request body must be a JSON object';
  if (typeof body.model !== 'string' || body.model === '') return 'model: Field required';
  if (!Array.isArray(body.messages)) return 'messages: Field required';
  if (typeof body.max_tokens !== 'number' || !Number.isFinite(body.max_tokens))
    return 'max_tokens: Field required';
  if (body.max_tokens < 1) return 'max_tokens: must be greater than or equal to 1';
  for (const [i, m] of body.messages.entries()) {
    if (!isRecord(m)) return `messages.${i}: Input should be a valid dictionary`;
    // 'system' messages mid-conversation exist in the current API (Claude Code sends them).
    if (m.role !== 'user' && m.role !== 'assistant' && m.role !== 'system')
      return `messages.${i}.role: Input should be 'user', 'assistant' or 'system'`;
    if (typeof m.content !== 'string' && !Array.isArray(m.content))
      return `messages.${i}.content: Input should be a valid string or list`;
  }
  return null;
}

export function validateTurn(turn: unknown): turn is MockTurn {
  if (!isRecord(turn)) return false;
  if (turn.kind === 'reply') return Array.isArray(turn.blocks);
  if (turn.kind === 'error') return typeof turn.status === 'number';
  return false;
}
