// A workflow's type, priority and status: apart from the rest of workflows.ts because the event
// declarations (event-types.ts) need the status, and workflows.ts needs the event type names.
import { z } from '@hono/zod-openapi';

export const WorkflowType = z.enum(['refactor', 'analysis', 'test', 'deploy', 'custom']);
export type WorkflowType = z.infer<typeof WorkflowType>;
export const Priority = z.enum(['low', 'medium', 'high']);
export type Priority = z.infer<typeof Priority>;
export const WorkflowStatus = z.enum(['pending', 'running', 'completed', 'failed', 'cancelled']);
export type WorkflowStatus = z.infer<typeof WorkflowStatus>;
