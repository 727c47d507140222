// POST /api/ws-ticket (docs/api.md §12): trades the request's credential for a ticket that opens
// one WebSocket within 30 s, so a browser never puts its long-lived key in a URL (see ws-ticket.ts).
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute } from '@hono/zod-openapi';
import { WsTicket } from '../../protocol/index.ts';
import { ANONYMOUS, getCredential } from '../auth.ts';
import { TICKET_PROTOCOL_PREFIX, type WsTickets } from '../ws-ticket.ts';
import { errorResponses, json } from './openapi-helpers.ts';

const issue = createRoute({
  method: 'post',
  path: '/api/ws-ticket',
  tags: ['websocket'],
  summary:
    'A single-use ticket (valid 30 s) for /ws: offer `duyetbot.v1` and `duyetbot.ticket.<ticket>` as subprotocols',
  responses: {
    200: json(WsTicket, 'the ticket, bound to the credential of this request'),
    ...errorResponses,
  },
});

export function ticketRoutes(tickets: WsTickets) {
  return (app: OpenAPIHono) => {
    app.openapi(issue, (c) => {
      const t = tickets.issue(getCredential(c) ?? ANONYMOUS);
      c.header('Cache-Control', 'no-store');
      return c.json(
        {
          ticket: t.ticket,
          protocol: `${TICKET_PROTOCOL_PREFIX}${t.ticket}`,
          expiresAt: new Date(t.expiresAt).toISOString(),
        },
        200,
      );
    });
  };
}
