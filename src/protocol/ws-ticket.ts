// POST /api/ws-ticket: a short-lived, single-use ticket that opens a WebSocket without a key in
// the URL (docs/api.md §12; the dashboard's WebSocket uses it).
import { z } from '@hono/zod-openapi';

export const WsTicket = z
  .object({
    ticket: z.string(),
    /** The subprotocol to offer with `duyetbot.v1`: `duyetbot.ticket.<ticket>`. */
    protocol: z.string(),
    expiresAt: z.string(),
  })
  .openapi('WsTicket');
export type WsTicket = z.infer<typeof WsTicket>;
