// One place that turns zod validation failures into `invalid_request` answers.
import type { Hook } from '@hono/zod-openapi';
import type { Env } from 'hono';
import { errorResponse, zodDetails } from './errors.ts';

export const validationHook: Hook<unknown, Env, string, Response | undefined> = (result, c) => {
  if (!result.success) {
    return errorResponse(c, 'invalid_request', 400, `invalid ${result.target}`, zodDetails(result.error));
  }
  return undefined;
};
