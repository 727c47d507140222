// POST /telegram: the Telegram webhook. A message that shouldEscalate picks becomes a workflow and
// the user gets its id at once; quick questions are answered here. Presses of the approval buttons
// (callback queries) call the server's approval route. Everything happens inside the webhook call,
// each outside request bounded, so the answer comes well within the Worker's 30 s.
import { AgentApiError, type ApprovalDecision, shouldEscalate } from '@duyetbot/tier1';
import { sendMessage, telegram } from './apis.ts';
import {
  agentClient,
  callbackUrl,
  type Env,
  list,
  NOTIFY,
  quickAnswer,
  repoUrl,
  sameSecret,
  startedText,
  state,
} from './env.ts';

interface TgUser {
  id: number;
  is_bot?: boolean;
  username?: string;
  first_name?: string;
}
interface TgMessage {
  message_id: number;
  from?: TgUser;
  chat: { id: number; type?: string };
  text?: string;
}
interface TgUpdate {
  update_id: number;
  message?: TgMessage;
  callback_query?: { id: string; from: TgUser; message?: TgMessage; data?: string };
}

function allowed(env: Env, userId: number | undefined): boolean {
  const ids = list(env.TELEGRAM_ALLOWED_USERS);
  return ids.length === 0 || (userId !== undefined && ids.includes(String(userId)));
}

export async function handleTelegram(request: Request, env: Env): Promise<Response> {
  // setWebhook's secret_token: without it anyone could post updates in a user's name.
  if (!sameSecret(request.headers.get('X-Telegram-Bot-Api-Secret-Token'), env.TELEGRAM_WEBHOOK_SECRET))
    return new Response('unauthorized', { status: 401 });
  let update: TgUpdate;
  try {
    update = (await request.json()) as TgUpdate;
  } catch {
    return new Response('bad update', { status: 400 });
  }
  if (update.callback_query) await onButton(env, update.callback_query);
  else if (update.message?.text && !update.message.from?.is_bot) await onMessage(request, env, update);
  // 200 in every other case too: Telegram redelivers anything else, and a redelivery would not help.
  return new Response('ok');
}

async function reply(env: Env, m: TgMessage, text: string): Promise<void> {
  await sendMessage(env, {
    chat_id: m.chat.id,
    text,
    reply_parameters: { message_id: m.message_id, allow_sending_without_reply: true },
  });
}

function describeError(err: unknown): string {
  if (err instanceof AgentApiError) return `${err.code}: ${err.message}`;
  return err instanceof Error && err.name === 'TimeoutError'
    ? 'the agent server did not answer in time'
    : 'unreachable';
}

async function onMessage(request: Request, env: Env, update: TgUpdate): Promise<void> {
  const m = update.message!;
  const text = m.text!.trim();
  const client = agentClient(env);

  const command = /^\/(status|cancel)(?:@\w+)?\s+(\S+)/i.exec(text);
  if (command || /^\/list\b/i.test(text)) {
    if (!allowed(env, m.from?.id)) return reply(env, m, 'Sorry, you may not manage tasks here.');
    try {
      if (!command) {
        const { items } = await client.list({ limit: 5 });
        return reply(env, m, items.map((w) => `${w.id} ${w.type} ${w.status}`).join('\n') || 'No tasks yet.');
      }
      const w =
        command[1]!.toLowerCase() === 'cancel'
          ? await client.cancel(command[2]!)
          : await client.get(command[2]!);
      return reply(
        env,
        m,
        `${w.id}: ${w.status}${w.result?.pullRequestUrl ? `\nPR: ${w.result.pullRequestUrl}` : ''}`,
      );
    } catch (err) {
      return reply(env, m, `Could not do that (${describeError(err)}).`);
    }
  }

  const decision = shouldEscalate(text);
  if (!decision.escalate) return reply(env, m, quickAnswer(text));
  if (!allowed(env, m.from?.id)) return reply(env, m, 'Sorry, you may not start long tasks here.');

  const approve = list(env.APPROVE);
  let submitted: Awaited<ReturnType<typeof client.submit>>;
  try {
    submitted = await client.submit({
      type: decision.type,
      instructions:
        `${decision.instructions}\n\n(Requested on Telegram. If you change code: work on a new branch, ` +
        'commit, push it and open a pull request.)',
      ...(decision.repo ? { repoUrl: repoUrl(env, decision.repo) } : {}),
      callbackUrl: callbackUrl(env, request),
      // Telegram redelivers an update it got no 200 for: the same update is the same workflow.
      idempotencyKey: `tg:${update.update_id}`,
      notify: NOTIFY,
      ...(approve.length > 0 ? { policy: { approve } } : {}),
      metadata: {
        tier1: { source: 'telegram', chatId: m.chat.id, messageId: m.message_id },
        escalation: decision.reasons,
      },
    });
  } catch (err) {
    return reply(env, m, `Sorry, I could not start that task (${describeError(err)}).`);
  }
  const wf = submitted.workflow;
  const st = state(env);
  await st.linkWorkflow(wf.id, {
    kind: 'telegram',
    chatId: m.chat.id,
    messageId: m.message_id,
    userId: m.from?.id ?? 0,
  });
  if (!(await st.acked(wf.id))) {
    const why = decision.reasons.map((r) => r.rule.replace('_', ' ')).join(', ');
    await reply(
      env,
      m,
      `${startedText(wf.type, wf.id)}. I'll message you with the result. (Escalated: ${why}.)`,
    );
    await st.markAcked(wf.id);
  }
}

/** `ap:<token>:a` (allow) or `ap:<token>:d` (deny): at most 64 bytes, as Telegram requires. */
export function buttonData(token: string, decision: ApprovalDecision): string {
  return `ap:${token}:${decision === 'allow' ? 'a' : 'd'}`;
}

async function onButton(env: Env, q: NonNullable<TgUpdate['callback_query']>): Promise<void> {
  // A query can be answered once; a failed answer (too late, already answered) changes nothing.
  const answer = (text: string) =>
    telegram(env, 'answerCallbackQuery', { callback_query_id: q.id, text }).catch(() => undefined);
  const m = /^ap:([A-Za-z0-9_-]{1,48}):([ad])$/.exec(q.data ?? '');
  if (!m) return void (await answer('Unknown button.'));
  const st = state(env);
  const target = await st.approval(m[1]!);
  if (!target) return void (await answer('This request is no longer pending.'));
  if (target.chatId !== q.message?.chat.id || !allowed(env, q.from.id))
    return void (await answer('You may not decide this request.'));
  const decision: ApprovalDecision = m[2] === 'a' ? 'allow' : 'deny';
  const who = q.from.username ? `@${q.from.username}` : q.from.first_name || String(q.from.id);
  let outcome: string;
  try {
    await agentClient(env).approve(
      target.workflowId,
      target.approvalId,
      decision,
      `${decision} by ${who} on Telegram`,
    );
    outcome = decision === 'allow' ? 'Allowed' : 'Denied';
  } catch (err) {
    if (!(err instanceof AgentApiError) || (err.status !== 409 && err.status !== 404)) {
      return void (await answer(`Could not send the decision (${describeError(err)}); try again.`));
    }
    outcome = err.status === 409 ? 'Already decided' : 'No longer pending';
  }
  await st.dropApproval(m[1]!);
  await answer(outcome);
  if (q.message) {
    // The buttons go; the message says what happened.
    await telegram(env, 'editMessageText', {
      chat_id: q.message.chat.id,
      message_id: q.message.message_id,
      text: `${target.summary}\n\n${outcome} by ${who}.`,
      reply_markup: { inline_keyboard: [] },
    });
  }
}
