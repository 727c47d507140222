// The /v1/models endpoints: a fixed list of Claude models, plausible unknown ids echoed back.
import type { ServerResponse } from 'node:http';
import { apiError, sendError, sendJson } from './errors.ts';

interface ModelEntry {
  type: 'model';
  id: string;
  display_name: string;
  created_at: string;
}

const MODELS: ModelEntry[] = [
  {
    type: 'model',
    id: 'claude-opus-4-1-20250805',
    display_name: 'Claude Opus 4.1',
    created_at: '2025-08-05T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-sonnet-4-5-20250929',
    display_name: 'Claude Sonnet 4.5',
    created_at: '2025-09-29T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-haiku-4-5-20251001',
    display_name: 'Claude Haiku 4.5',
    created_at: '2025-10-01T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-opus-4-20250514',
    display_name: 'Claude Opus 4',
    created_at: '2025-05-14T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-sonnet-4-20250514',
    display_name: 'Claude Sonnet 4',
    created_at: '2025-05-14T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-3-5-haiku-20241022',
    display_name: 'Claude Haiku 3.5',
    created_at: '2024-10-22T00:00:00Z',
  },
];

/** GET /v1/models and GET /v1/models/<id>. */
export function handleModels(res: ServerResponse, path: string, query: URLSearchParams): void {
  if (path === '/v1/models') {
    const limit = Math.min(1000, Math.max(1, Number(query.get('limit') ?? 20) || 20));
    const data = MODELS.slice(0, limit);
    sendJson(res, 200, {
      data,
      has_more: data.length < MODELS.length,
      first_id: data[0]?.id ?? null,
      last_id: data[data.length - 1]?.id ?? null,
    });
    return;
  }
  let id = path.slice('/v1/models/'.length);
  try {
    id = decodeURIComponent(id);
  } catch {
    // keep it raw
  }
  const known = MODELS.find((m) => m.id === id);
  if (known) sendJson(res, 200, known);
  else if (/^claude-[a-z0-9.-]+$/.test(id)) {
    // Unknown but plausible Claude model ids are echoed, so clients probing a configured model work.
    sendJson(res, 200, { type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' });
  } else sendError(res, apiError(404, 'not_found_error', `model: ${id}`));
}
