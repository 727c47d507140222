// Shared building blocks of the wire protocol. One zod schema per shape drives
// request validation, the OpenAPI document and the TypeScript types.
import { z } from '@hono/zod-openapi';

export const ErrorCode = z.enum([
  'invalid_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'payload_too_large',
  'rate_limited',
  'internal',
  'unavailable',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ErrorBody = z
  .object({
    error: z.object({
      code: ErrorCode,
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');
export type ErrorBody = z.infer<typeof ErrorBody>;

export const Usage = z
  .object({
    inputTokens: z.number().int().nonnegative(),
    outputTokens: z.number().int().nonnegative(),
    costUsd: z.number().nonnegative(),
  })
  .strict()
  .openapi('Usage');
export type Usage = z.infer<typeof Usage>;

export const emptyUsage = (): Usage => ({ inputTokens: 0, outputTokens: 0, costUsd: 0 });

export const EngineName = z.enum(['claude-code', 'native']);
export type EngineName = z.infer<typeof EngineName>;

/** Whether a JSON value nests at most `limit` levels (iterative: deep input cannot overflow the stack). */
function nestsWithin(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= limit) return false;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return true;
}

/** Free-form JSON object supplied by clients; bounded so one request cannot bloat the store. */
export const Metadata = z
  .record(z.string().max(128), z.unknown())
  .refine((m) => Object.keys(m).length <= 64, 'at most 64 keys')
  .refine(
    (m) => nestsWithin(m, 16) && JSON.stringify(m).length <= 16_384,
    'at most 16 KiB when serialised and 16 levels deep',
  );

export const Id = z.string().min(1).max(64);
export const Cursor = z.string().min(1).max(256);
export const Limit = z.coerce.number().int().min(1).max(500).default(50);

/** Repository URL as given by the client; transport policy is checked separately (see sandbox/repo-url). */
export const RepoUrl = z.string().min(1).max(2048);
export const Branch = z
  .string()
  .min(1)
  .max(255)
  .regex(
    /^(?!-)[A-Za-z0-9._/-]+$/,
    'branch names may contain letters, digits, . _ / - and may not start with -',
  );
export const ModelId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:@/-]+$/);

export const Page = <T extends z.ZodTypeAny>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });
