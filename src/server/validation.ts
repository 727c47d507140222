// One place that turns zod validation failures into `invalid_request` answers.
import type { Hook } from '@hono/zod-openapi';
import type { Env } from 'hono';
import { errorResponse, zodDetails } from './errors.ts';

// biome-ignore lint/suspicious/noExplicitAny: Hono's Hook type is generic over the route's input/output
export const validationHook: Hook<any, Env, any, any> = (result, c) => {
  if (!result.success) {
    return errorResponse(c, 'invalid_request', 400, `invalid ${result.target}`, zodDetails(result.error));
  }
};
