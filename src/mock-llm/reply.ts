// Building a mock reply: API-shaped ids, token estimates, and the message/content/usage objects.
import { randomBytes } from 'node:crypto';
import type { MessagesRequest, MockBlock, MockReply } from './types.ts';

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Ids shaped like the real API's: `msg_01` + 22 base62 characters. */
export function newId(prefix: 'msg' | 'toolu' | 'req'): string {
  const bytes = randomBytes(22);
  let s = `${prefix}_01`;
  for (const b of bytes) s += BASE62[b % 62];
  return s;
}

/** ≈ chars / 4, at least 1. */
export function estimateTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

export interface BuiltBlock {
  block: MockBlock;
  id: string; // tool_use id ('' for other blocks)
  json: string; // serialized tool input ('' for other blocks)
}

export interface Built {
  id: string;
  blocks: BuiltBlock[];
  stopReason: string;
  stopSequence: string | null;
  inputTokens: number;
  outputTokens: number;
}

export function buildReply(reply: MockReply, req: MessagesRequest, bodyChars: number): Built {
  let outChars = 0;
  let hasTool = false;
  const blocks: BuiltBlock[] = [];
  for (const block of reply.blocks) {
    if (block.type === 'tool_use') {
      hasTool = true;
      const json = JSON.stringify(block.input ?? {}) ?? '{}';
      outChars += json.length + block.name.length;
      blocks.push({ block, id: block.id ?? newId('toolu'), json });
    } else if (block.type === 'thinking') {
      outChars += block.thinking.length;
      blocks.push({ block, id: '', json: '' });
    } else {
      outChars += block.text.length;
      blocks.push({ block, id: '', json: '' });
    }
  }
  const stopReason = reply.stopReason ?? (hasTool ? 'tool_use' : 'end_turn');
  let stopSequence: string | null = null;
  if (stopReason === 'stop_sequence') {
    const seqs = req.stop_sequences;
    stopSequence = Array.isArray(seqs) && typeof seqs[0] === 'string' ? seqs[0] : '\n\nHuman:';
  }
  return {
    id: newId('msg'),
    blocks,
    stopReason,
    stopSequence,
    inputTokens: reply.usage?.inputTokens ?? estimateTokens(bodyChars),
    outputTokens: reply.usage?.outputTokens ?? estimateTokens(outChars),
  };
}

export function fakeSignature(): string {
  return randomBytes(48).toString('base64');
}

export function contentOf(b: BuiltBlock): Record<string, unknown> {
  const block = b.block;
  if (block.type === 'tool_use')
    return { type: 'tool_use', id: b.id, name: block.name, input: block.input ?? {} };
  if (block.type === 'thinking')
    return { type: 'thinking', thinking: block.thinking, signature: fakeSignature() };
  return { type: 'text', text: block.text };
}

function usageObject(input: number, output: number): Record<string, unknown> {
  return {
    input_tokens: input,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: output,
    service_tier: 'standard',
  };
}

export function messageObject(
  built: Built,
  model: string,
  content: unknown[],
  final: boolean,
): Record<string, unknown> {
  return {
    id: built.id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: final ? built.stopReason : null,
    stop_sequence: final ? built.stopSequence : null,
    usage: usageObject(built.inputTokens, final ? built.outputTokens : 1),
  };
}
