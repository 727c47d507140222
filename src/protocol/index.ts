export * from './approvals.ts';
export * from './common.ts';
export * from './events.ts';
export * from './failure-codes.ts';
export * from './policy.ts';
export * from './sessions.ts';
export * from './workflows.ts';
export * from './ws.ts';
