// POST /callback: what the agent server sends (docs/api.md §6, §10), verified by @duyetbot/tier1
// (signature, window, nonce) and de-duplicated by X-Delivery-Id in the Durable Object. The result goes
// back where the workflow came from, with the pull request link; approval requests become Telegram
// messages with inline buttons (or a GitHub comment); progress becomes a short message.
import {
  type AgentEvent,
  type ApprovalRequested,
  handleCallback,
  randomNonce,
  type VerifiedCallback,
  type Workflow,
} from '@duyetbot/tier1';
import { githubComment, sendMessage } from './apis.ts';
import type { Env } from './env.ts';
import { state } from './env.ts';
import type { Origin } from './state.ts';
import { buttonData } from './telegram.ts';

export async function handleAgentCallback(request: Request, env: Env): Promise<Response> {
  const st = state(env);
  const { response } = await handleCallback(
    request,
    {
      secret: env.SIGNING_SECRET,
      nonces: { accept: (nonce, ttlMs) => st.acceptNonce(nonce, ttlMs) },
      deliveries: { seen: (id) => st.deliverySeen(id), done: (id) => st.deliveryDone(id) },
    },
    (msg) => deliver(env, msg),
  );
  return response;
}

/** The origin of a workflow: the Durable Object's record, else the metadata this Worker put on it. */
async function originOf(env: Env, workflowId: string, wf?: Workflow): Promise<Origin> {
  const o = await state(env).origin(workflowId);
  if (o) return o;
  const t = (wf?.metadata as { tier1?: Record<string, unknown> } | undefined)?.tier1;
  if (t?.source === 'telegram' && typeof t.chatId === 'number')
    return { kind: 'telegram', chatId: t.chatId, messageId: Number(t.messageId) || 0, userId: 0 };
  if (t?.source === 'github' && typeof t.repo === 'string' && typeof t.issue === 'number')
    return { kind: 'github', repo: t.repo, issue: t.issue, user: '' };
  // Not (yet) linked: throwing answers 500 and the server retries later.
  throw new Error(`no origin for ${workflowId}`);
}

/** Telegram refuses messages over 4096 characters, GitHub comments over 65536: a refusal would be retried forever. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 20)}\n… (truncated)`;
}

async function say(env: Env, o: Origin, text: string, buttons?: { token: string }): Promise<void> {
  if (o.kind === 'github') return githubComment(env, o.repo, o.issue, clip(text, 60_000));
  await sendMessage(env, {
    chat_id: o.chatId,
    text: clip(text, 4_000),
    ...(o.messageId
      ? { reply_parameters: { message_id: o.messageId, allow_sending_without_reply: true } }
      : {}),
    ...(buttons
      ? {
          reply_markup: {
            inline_keyboard: [
              [
                { text: '✅ Allow', callback_data: buttonData(buttons.token, 'allow') },
                { text: '❌ Deny', callback_data: buttonData(buttons.token, 'deny') },
              ],
            ],
          },
        }
      : {}),
  });
}

export function resultText(wf: Workflow): string {
  if (wf.status === 'completed') {
    const r = wf.result;
    const lines = [`✅ Task ${wf.id} completed.`];
    // The summary is cut so that the pull request link after it always fits.
    if (r?.summary) lines.push(clip(r.summary, 3_000));
    if (r?.pullRequestUrl) lines.push(`Pull request: ${r.pullRequestUrl}`);
    else if (r?.commits?.length) lines.push(`Commits: ${r.commits.map((c) => c.sha.slice(0, 7)).join(', ')}`);
    return lines.join('\n\n');
  }
  if (wf.status === 'failed')
    return `❌ Task ${wf.id} failed (${wf.error?.code ?? 'unknown'}): ${wf.error?.message ?? ''}`;
  return `Task ${wf.id} was cancelled.`;
}

function approvalText(workflowId: string, a: ApprovalRequested): string {
  const input = JSON.stringify(a.input);
  return (
    `🔐 Task ${workflowId} asks to run ${a.name} (rule ${a.rule}):\n` +
    `${input.length > 500 ? `${input.slice(0, 500)}…` : input}\nExpires ${a.expiresAt}.`
  );
}

async function deliver(env: Env, msg: VerifiedCallback): Promise<void> {
  if (msg.kind === 'result') {
    const o = await originOf(env, msg.workflow.id, msg.workflow);
    return say(env, o, resultText(msg.workflow));
  }
  const o = await originOf(env, msg.workflowId);
  await onEvent(env, o, msg.workflowId, msg.event);
}

async function onEvent(env: Env, o: Origin, workflowId: string, ev: AgentEvent): Promise<void> {
  switch (ev.type) {
    case 'run.started':
      if (o.kind === 'telegram')
        await say(env, o, `⏳ Task ${workflowId} is running (attempt ${String(ev.data.attempt ?? 1)}).`);
      return;
    case 'approval.requested': {
      const a = ev.data as unknown as ApprovalRequested;
      if (typeof a.approvalId !== 'string') return;
      const token = randomNonce();
      const summary = approvalText(workflowId, a);
      const keepMs = Math.max(60_000, Date.parse(a.expiresAt) - Date.now() + 60_000) || 3600_000;
      await state(env).putApproval(
        token,
        {
          workflowId,
          approvalId: a.approvalId,
          summary,
          ...(o.kind === 'telegram' ? { chatId: o.chatId } : { issue: `${o.repo}#${o.issue}` }),
        },
        keepMs,
      );
      if (o.kind === 'telegram') return say(env, o, summary, { token });
      return say(env, o, `${summary}\n\nReply \`${env.BOT_MENTION || '@duyetbot'} approve\` or \`… deny\`.`);
    }
    case 'approval.resolved':
      // A person's decision was already acknowledged; say so only when the server decided.
      if (ev.data.by !== 'user')
        await say(
          env,
          o,
          `Approval ${String(ev.data.approvalId)} of task ${workflowId}: ${String(ev.data.decision)} (${String(ev.data.by)}).`,
        );
      return;
    default:
      return;
  }
}
