// The `agent-server` client commands (docs/api.md §12): each talks to a running server through the
// typed client and prints either a readable view or, with --json, JSON only.
import { type AgentClient, ApiError } from '../client/index.ts';
import type { Event, Workflow, WorkflowStatus } from '../protocol/index.ts';
import { EventRenderer } from './render.ts';

export interface CliContext {
  client: AgentClient;
  out: NodeJS.WritableStream;
  json: boolean;
  now?: () => number;
  /** Stops a follow (Ctrl-C). */
  signal?: AbortSignal;
}

/** Exit codes of §12. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const TERMINAL: ReadonlySet<WorkflowStatus> = new Set(['completed', 'failed', 'cancelled']);

function printJson(ctx: CliContext, value: unknown): void {
  ctx.out.write(`${JSON.stringify(value)}\n`);
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  if (s < 129_600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

const age = (iso: string, now: number): string => duration(now - Date.parse(iso));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export async function submit(
  ctx: CliContext,
  o: {
    type: string;
    instructions: string;
    repo?: string;
    branch?: string;
    priority?: string;
    engine?: string;
    follow?: boolean;
  },
): Promise<number> {
  const { workflow } = await ctx.client.createWorkflow({
    type: o.type as Workflow['type'],
    instructions: o.instructions,
    ...(o.repo ? { repoUrl: o.repo } : {}),
    ...(o.branch ? { branch: o.branch } : {}),
    ...(o.priority ? { priority: o.priority as Workflow['priority'] } : {}),
    ...(o.engine ? { engine: o.engine as 'native' | 'claude-code' } : {}),
  });
  if (!o.follow) {
    if (ctx.json) printJson(ctx, workflow);
    else ctx.out.write(`workflow ${workflow.id} ${workflow.status}\n`);
    return EXIT.ok;
  }
  if (!ctx.json)
    ctx.out.write(
      `workflow ${workflow.id} ${workflow.status} — following (Ctrl-C stops following, not the workflow)\n`,
    );
  return followWorkflow(ctx, workflow.id);
}

/** Follows a workflow to its end: exit 0 when it completed, 1 when it failed or was cancelled. */
async function followWorkflow(ctx: CliContext, id: string): Promise<number> {
  const renderer = new EventRenderer({
    out: ctx.out,
    startedAt: (ctx.now ?? Date.now)(),
    ...(ctx.now ? { now: ctx.now } : {}),
  });
  let status: WorkflowStatus | undefined;
  await ctx.client.follow(
    { workflowId: id },
    (e: Event) => {
      if (ctx.json) printJson(ctx, e);
      else renderer.render(e);
      if (e.type === 'workflow.status' && TERMINAL.has(e.data.status)) {
        status = e.data.status;
        return false;
      }
      return undefined;
    },
    ctx.signal ? { signal: ctx.signal } : {},
  );
  renderer.end();
  if (!status) return ctx.signal?.aborted ? EXIT.ok : EXIT.failed;
  const w = await ctx.client.getWorkflow(id);
  if (!ctx.json) {
    if (w.result?.pullRequestUrl) ctx.out.write(`pull request: ${w.result.pullRequestUrl}\n`);
    if (w.error) ctx.out.write(`error: ${w.error.code} — ${w.error.message}\n`);
  }
  return w.status === 'completed' ? EXIT.ok : EXIT.failed;
}

/**
 * Follows a workflow (`wf_…`) to its end, or a session until it is idle again: exit 1 when the
 * workflow (or the session's last run) failed or was cancelled.
 */
export async function follow(ctx: CliContext, id: string): Promise<number> {
  if (id.startsWith('wf_')) return followWorkflow(ctx, id);
  const renderer = new EventRenderer({
    out: ctx.out,
    startedAt: (ctx.now ?? Date.now)(),
    ...(ctx.now ? { now: ctx.now } : {}),
  });
  let last: 'completed' | 'failed' | 'cancelled' | undefined;
  const idle = async () => (await ctx.client.getSession(id)).status === 'idle';
  if (await idle()) {
    // Nothing runs: show the history and stop.
    const page = await ctx.client.events(id, 0, 1000);
    for (const e of page.items) {
      if (ctx.json) printJson(ctx, e);
      else renderer.render(e);
    }
    renderer.end();
    return EXIT.ok;
  }
  await ctx.client.follow(
    id,
    async (e: Event) => {
      if (ctx.json) printJson(ctx, e);
      else renderer.render(e);
      if (e.type === 'run.completed' || e.type === 'run.failed' || e.type === 'run.cancelled') {
        last = e.type === 'run.completed' ? 'completed' : e.type === 'run.failed' ? 'failed' : 'cancelled';
        if (await idle()) return false;
      }
      return undefined;
    },
    ctx.signal ? { signal: ctx.signal } : {},
  );
  renderer.end();
  return last === undefined || last === 'completed' ? EXIT.ok : EXIT.failed;
}

export async function sessions(ctx: CliContext): Promise<number> {
  const page = await ctx.client.listSessions({ limit: 100 });
  if (ctx.json) {
    printJson(ctx, page);
    return EXIT.ok;
  }
  if (page.items.length === 0) {
    ctx.out.write('no sessions\n');
    return EXIT.ok;
  }
  const now = (ctx.now ?? Date.now)();
  const rows = page.items.map((s) => {
    const usage = s.usage as { costUsd?: number } | undefined;
    return [
      s.id,
      s.status,
      String(s.engine ?? ''),
      age(String(s.createdAt), now),
      `$${(usage?.costUsd ?? 0).toFixed(4)}`,
      s.title,
    ];
  });
  ctx.out.write(`${table([['ID', 'STATUS', 'ENGINE', 'AGE', 'COST', 'TITLE'], ...rows])}\n`);
  return EXIT.ok;
}

export async function workflows(ctx: CliContext, o: { status?: string }): Promise<number> {
  const page = await ctx.client.listWorkflows({ limit: 100, ...(o.status ? { status: o.status } : {}) });
  if (ctx.json) {
    printJson(ctx, page);
    return EXIT.ok;
  }
  if (page.items.length === 0) {
    ctx.out.write('no workflows\n');
    return EXIT.ok;
  }
  const now = (ctx.now ?? Date.now)();
  const rows = page.items.map((w) => [
    w.id,
    w.status,
    w.type,
    w.priority,
    age(w.createdAt, now),
    `$${w.usage.costUsd.toFixed(4)}`,
    w.result?.pullRequestUrl ?? w.error?.code ?? '',
  ]);
  ctx.out.write(`${table([['ID', 'STATUS', 'TYPE', 'PRIORITY', 'AGE', 'COST', 'RESULT'], ...rows])}\n`);
  return EXIT.ok;
}

export async function cancel(ctx: CliContext, id: string): Promise<number> {
  const w = await ctx.client.cancelWorkflow(id);
  if (ctx.json) printJson(ctx, w);
  else ctx.out.write(`workflow ${w.id} ${w.status}\n`);
  return EXIT.ok;
}

export async function approvals(ctx: CliContext): Promise<number> {
  const page = await ctx.client.listApprovals({ status: 'pending', limit: 100 });
  if (ctx.json) {
    printJson(ctx, page);
    return EXIT.ok;
  }
  if (page.items.length === 0) {
    ctx.out.write('no pending approvals\n');
    return EXIT.ok;
  }
  const now = (ctx.now ?? Date.now)();
  const rows = page.items.map((a) => [
    a.approvalId,
    a.workflowId ?? a.sessionId,
    a.rule,
    a.name,
    age(a.requestedAt, now),
    `in ${duration(Date.parse(a.expiresAt) - now)}`,
  ]);
  ctx.out.write(`${table([['ID', 'FOR', 'RULE', 'TOOL', 'AGE', 'EXPIRES'], ...rows])}\n`);
  return EXIT.ok;
}

/** Finds the approval (pending) to learn its session, then decides it there. */
export async function approve(
  ctx: CliContext,
  approvalId: string,
  o: { deny?: boolean; message?: string },
): Promise<number> {
  let found: { sessionId: string } | undefined;
  let cursor: string | undefined;
  do {
    const page = await ctx.client.listApprovals({
      status: 'pending',
      limit: 500,
      ...(cursor ? { cursor } : {}),
    });
    found = page.items.find((a) => a.approvalId === approvalId);
    cursor = page.nextCursor ?? undefined;
  } while (!found && cursor);
  if (!found) throw new ApiError(404, 'not_found', `no pending approval ${approvalId}`);
  const r = await ctx.client.decideApproval(
    found.sessionId,
    approvalId,
    o.deny ? 'deny' : 'allow',
    o.message,
  );
  if (ctx.json) printJson(ctx, r);
  else ctx.out.write(`approval ${r.approvalId}: ${r.decision === 'allow' ? 'allowed' : 'denied'}\n`);
  return EXIT.ok;
}
