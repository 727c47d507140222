// Session history → a valid Anthropic `messages` array. Pure functions, no I/O.
//
// The Messages API requires: the first message is a user message; roles alternate; every
// assistant `tool_use` is answered by a `tool_result` (same id) at the start of the next user
// message; no `tool_result` without its `tool_use`; no empty text blocks. Stored history can
// break all of these (runs that failed half-way, records written by another engine, records
// with only `text`), so this module repairs instead of trusting it.
import type { ContentBlockParam, ToolResultBlockParam } from '@anthropic-ai/sdk/resources/messages/messages';
import type { ConversationTurn } from './engine.ts';

export type Role = 'user' | 'assistant';
export interface ApiMessage {
  role: Role;
  content: ContentBlockParam[];
}

export type HistoryRecord = ConversationTurn;

/** Placeholder user turn when history would otherwise start with the assistant. */
export const LEADING_USER_PLACEHOLDER = '(earlier conversation omitted)';
/** Result given to a tool call whose result was never recorded (the run stopped mid-turn). */
export const MISSING_RESULT_TEXT = 'No result: the tool call was interrupted before it completed.';

/**
 * Builds the `messages` of a request from the session history (oldest first) plus the new user
 * input (omitted or empty: none). The result always starts with a user message, alternates, has
 * complete tool_use/tool_result pairs and, when `input` is given, ends with a user message.
 */
export function toAnthropicMessages(records: readonly HistoryRecord[], input?: string): ApiMessage[] {
  const normalised: ApiMessage[] = [];
  for (const r of records) {
    if (r.role !== 'user' && r.role !== 'assistant') continue;
    const content = recordBlocks(r);
    if (content.length > 0) normalised.push({ role: r.role, content });
  }
  const repaired = repairToolPairs(mergeSameRole(normalised));
  if (input !== undefined && input !== '') {
    const last = repaired.at(-1);
    const block: ContentBlockParam = { type: 'text', text: input };
    if (last?.role === 'user') last.content.push(block);
    else repaired.push({ role: 'user', content: [block] });
  }
  if (repaired[0]?.role === 'assistant') {
    repaired.unshift({ role: 'user', content: [{ type: 'text', text: LEADING_USER_PLACEHOLDER }] });
  }
  return repaired;
}

/** Plain text of content blocks (text blocks joined by blank lines); strings pass through. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const parts: string[] = [];
  for (const b of content) {
    if (isRecord(b) && b.type === 'text' && typeof b.text === 'string' && b.text !== '') parts.push(b.text);
  }
  return parts.join('\n\n');
}

/** A record's content as sanitised request blocks: `content` when usable, else `text`. */
export function recordBlocks(r: HistoryRecord): ContentBlockParam[] {
  if (Array.isArray(r.content)) {
    const blocks = r.content.flatMap((b) => sanitiseBlock(b, r.role));
    if (blocks.length > 0) return blocks;
  } else if (typeof r.content === 'string' && r.content !== '') {
    return [{ type: 'text', text: r.content }];
  }
  return typeof r.text === 'string' && r.text !== '' ? [{ type: 'text', text: r.text }] : [];
}

/**
 * Keeps the request-valid fields of the block types we can replay. Thinking blocks are dropped
 * (requests are made without extended thinking), as are server-tool blocks and anything unknown.
 */
function sanitiseBlock(b: unknown, role: Role): ContentBlockParam[] {
  if (typeof b === 'string') return b === '' ? [] : [{ type: 'text', text: b }];
  if (!isRecord(b)) return [];
  switch (b.type) {
    case 'text':
      return typeof b.text === 'string' && b.text !== '' ? [{ type: 'text', text: b.text }] : [];
    case 'tool_use': {
      if (role !== 'assistant' || typeof b.id !== 'string' || typeof b.name !== 'string') return [];
      const input = isRecord(b.input) ? b.input : {};
      return [{ type: 'tool_use', id: b.id, name: b.name, input }];
    }
    case 'tool_result': {
      if (role !== 'user' || typeof b.tool_use_id !== 'string') return [];
      const out: ToolResultBlockParam = { type: 'tool_result', tool_use_id: b.tool_use_id };
      const content = sanitiseToolResultContent(b.content);
      if (content !== undefined) out.content = content;
      if (b.is_error === true) out.is_error = true;
      return [out];
    }
    case 'image':
    case 'document':
      return role === 'user' && isRecord(b.source) ? [b as unknown as ContentBlockParam] : [];
    default:
      return [];
  }
}

function sanitiseToolResultContent(c: unknown): ToolResultBlockParam['content'] | undefined {
  if (typeof c === 'string') return c === '' ? undefined : c;
  if (!Array.isArray(c)) return undefined;
  const blocks: Exclude<ToolResultBlockParam['content'], string | undefined> = [];
  for (const b of c) {
    if (!isRecord(b)) continue;
    if (b.type === 'text' && typeof b.text === 'string' && b.text !== '')
      blocks.push({ type: 'text', text: b.text });
    else if (b.type === 'image' && isRecord(b.source)) blocks.push(b as unknown as (typeof blocks)[number]);
  }
  return blocks.length > 0 ? blocks : undefined;
}

/** Concatenates the content of consecutive messages with the same role. */
export function mergeSameRole(messages: readonly ApiMessage[]): ApiMessage[] {
  const out: ApiMessage[] = [];
  for (const m of messages) {
    const last = out.at(-1);
    if (last && last.role === m.role) last.content.push(...m.content);
    else out.push({ role: m.role, content: [...m.content] });
  }
  return out;
}

/**
 * Makes tool_use/tool_result pairs complete, on alternating input:
 * - a user message answers exactly the tool_use ids of the assistant message before it, with
 *   its tool_result blocks first; results that are missing are filled with an error result;
 * - a tool_result with no matching tool_use becomes a text block (its information is kept);
 * - tool_use blocks of a trailing assistant message (nothing answered them) are dropped, and the
 *   message with them when nothing else is left.
 */
export function repairToolPairs(messages: readonly ApiMessage[]): ApiMessage[] {
  const out: ApiMessage[] = [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role === 'assistant') {
      const next = messages[i + 1];
      const seen = new Set<string>();
      // Duplicate ids within one turn are invalid; keep the first.
      let content = m.content.filter((b) => {
        if (b.type !== 'tool_use') return true;
        if (seen.has(b.id)) return false;
        seen.add(b.id);
        return true;
      });
      if (!next) content = content.filter((b) => b.type !== 'tool_use');
      if (content.length === 0) continue;
      const prev = out.at(-1);
      if (prev?.role === 'assistant') prev.content.push(...content);
      else out.push({ role: 'assistant', content });
      continue;
    }
    const prev = out.at(-1);
    const pending = prev?.role === 'assistant' ? toolUseIds(prev.content) : [];
    const results = new Map<string, ToolResultBlockParam>();
    const others: ContentBlockParam[] = [];
    for (const b of m.content) {
      if (b.type !== 'tool_result') {
        others.push(b);
      } else if (pending.includes(b.tool_use_id) && !results.has(b.tool_use_id)) {
        results.set(b.tool_use_id, b);
      } else {
        others.push({ type: 'text', text: orphanResultText(b) });
      }
    }
    const ordered: ContentBlockParam[] = pending.map(
      (id) =>
        results.get(id) ?? {
          type: 'tool_result',
          tool_use_id: id,
          content: MISSING_RESULT_TEXT,
          is_error: true,
        },
    );
    const content = [...ordered, ...others];
    if (prev?.role === 'user') prev.content.push(...content);
    else out.push({ role: 'user', content });
  }
  return out;
}

function toolUseIds(blocks: readonly ContentBlockParam[]): string[] {
  const ids: string[] = [];
  for (const b of blocks) if (b.type === 'tool_use') ids.push(b.id);
  return ids;
}

function orphanResultText(b: ToolResultBlockParam): string {
  const body = typeof b.content === 'string' ? b.content : contentText(b.content ?? []);
  return `[result of an earlier tool call ${b.tool_use_id}${b.is_error ? ' (error)' : ''}]\n${body}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The API's structural rules that `messages` breaks (empty when valid); for tests and assertions. */
export function conversationProblems(messages: readonly ApiMessage[]): string[] {
  const problems: string[] = [];
  if (messages[0]?.role !== 'user') problems.push('the first message is not a user message');
  messages.forEach((m, i) => {
    const where = `messages.${i}`;
    if (m.content.length === 0) problems.push(`${where}: empty content`);
    if (i > 0 && m.role === messages[i - 1]!.role)
      problems.push(`${where}: same role as the previous message`);
    for (const b of m.content)
      if (b.type === 'text' && b.text === '') problems.push(`${where}: empty text block`);
    const uses = m.role === 'assistant' ? toolUseIds(m.content) : [];
    const next = messages[i + 1];
    if (uses.length > 0 && next) {
      const leading = next.content
        .slice(0, uses.length)
        .map((b) => (b.type === 'tool_result' ? b.tool_use_id : ''));
      if (next.role !== 'user' || leading.join('\0') !== uses.join('\0')) {
        problems.push(`messages.${i + 1}: does not start with the results of ${uses.join(', ')}`);
      }
    }
    if (m.role === 'user') {
      const prev = messages[i - 1];
      const prevUses = prev?.role === 'assistant' ? toolUseIds(prev.content) : [];
      for (const b of m.content) {
        if (b.type === 'tool_result' && !prevUses.includes(b.tool_use_id)) {
          problems.push(`${where}: tool_result ${b.tool_use_id} answers no tool_use of the previous message`);
        }
      }
    }
  });
  return problems;
}
