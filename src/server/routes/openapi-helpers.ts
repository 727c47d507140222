// Small builders shared by the route modules so every route documents bodies and errors alike.
import { z } from '@hono/zod-openapi';
import { ErrorBody } from '../../protocol/index.ts';

export const IdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' } }),
});

export const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

export const jsonBody = <T extends z.ZodTypeAny>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

export const errorResponses = {
  400: json(ErrorBody, 'invalid request'),
  401: json(ErrorBody, 'unauthorized'),
  404: json(ErrorBody, 'not found'),
  429: json(ErrorBody, 'rate limited'),
};

/** `/…/{id}/approvals/{approvalId}` (docs/api.md §10). */
export const ApprovalParams = IdParam.extend({
  approvalId: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'approvalId', in: 'path' } }),
});
