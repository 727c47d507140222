// POST /github: the GitHub webhook (issue_comment). A comment mentioning the bot (BOT_MENTION) by a
// collaborator starts a workflow on that repository and gets a "Started …" reply; the result comes
// back as a comment (./callback.ts). "@bot approve" / "@bot deny" decide the issue's pending approval.
import { AgentApiError, shouldEscalate, verifyHmacSha256 } from '@duyetbot/tier1';
import { githubComment } from './apis.ts';
import {
  agentClient,
  callbackUrl,
  type Env,
  NOTIFY,
  quickAnswer,
  repoUrl,
  startedText,
  state,
} from './env.ts';

interface IssueCommentEvent {
  action: string;
  issue: { number: number; title: string; body?: string | null; pull_request?: unknown };
  comment: { id: number; body: string; user: { login: string; type: string }; author_association: string };
  repository: { full_name: string };
}

/** Who may start work or decide approvals: people with write access, never bots or drive-by commenters. */
const TRUSTED = new Set(['OWNER', 'MEMBER', 'COLLABORATOR']);
const MAX_ISSUE_BODY = 4_000;

function isIssueComment(p: unknown): p is IssueCommentEvent {
  const e = p as Partial<IssueCommentEvent> | null;
  return (
    typeof e?.action === 'string' &&
    typeof e.issue?.number === 'number' &&
    typeof e.comment?.body === 'string' &&
    typeof e.comment.user?.login === 'string' &&
    typeof e.repository?.full_name === 'string'
  );
}

export async function handleGitHub(request: Request, env: Env): Promise<Response> {
  const raw = new Uint8Array(await request.arrayBuffer());
  const sig = request.headers.get('X-Hub-Signature-256') ?? '';
  // Without a configured secret nothing is trusted.
  if (!env.GITHUB_WEBHOOK_SECRET || !(await verifyHmacSha256(env.GITHUB_WEBHOOK_SECRET, raw, sig)))
    return new Response('bad signature', { status: 401 });
  const event = request.headers.get('X-GitHub-Event');
  if (event === 'ping') return new Response('pong');
  if (event !== 'issue_comment') return new Response('ignored');
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    return new Response('bad payload', { status: 400 });
  }
  if (!isIssueComment(payload)) return new Response('bad payload', { status: 400 });
  const { issue, comment, repository } = payload;
  const mention = (env.BOT_MENTION || '@duyetbot').toLowerCase();
  const login = (env.BOT_LOGIN || mention.replace(/^@/, '')).toLowerCase();
  // Never react to bots (our own "Started …" and result comments mention us too: no loops).
  if (
    payload.action !== 'created' ||
    comment.user.type === 'Bot' ||
    comment.user.login.toLowerCase() === login
  )
    return new Response('ignored');
  const body = comment.body;
  const at = body.toLowerCase().indexOf(mention);
  const after = at < 0 ? undefined : body[at + mention.length];
  if (at < 0 || (after !== undefined && /[\w-]/.test(after))) return new Response('ignored');
  if (!TRUSTED.has(comment.author_association)) return new Response('ignored');

  const repo = repository.full_name;
  const text = `${body.slice(0, at)}${body.slice(at + mention.length)}`
    .replace(/\s+([,.:;!?])/g, '$1')
    .replace(/^[\s,.:;!?]+/, '')
    .trim();
  const say = (t: string) => githubComment(env, repo, issue.number, t);

  const verdict = /^(approve|allow|deny|reject)\b/i.exec(text);
  if (verdict) {
    await decideFromComment(
      env,
      `${repo}#${issue.number}`,
      /^(approve|allow)$/i.test(verdict[1]!),
      comment.user.login,
      say,
    );
    return new Response('ok');
  }

  const decision = shouldEscalate(text, { repo });
  if (!decision.escalate) {
    await say(quickAnswer(text));
    return new Response('ok');
  }
  const issueBody = (issue.body ?? '').slice(0, MAX_ISSUE_BODY);
  const instructions =
    `GitHub ${issue.pull_request ? 'pull request' : 'issue'} ${repo}#${issue.number}: ${issue.title}\n\n` +
    `${issueBody}\n\nRequest from @${comment.user.login}: ${decision.instructions}\n\n` +
    `If you change code: work on a new branch, commit, push it and open a pull request that mentions #${issue.number}.`;
  const approve = (env.APPROVE ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let wf: Awaited<ReturnType<ReturnType<typeof agentClient>['submit']>>['workflow'];
  try {
    ({ workflow: wf } = await agentClient(env).submit({
      type: decision.type,
      instructions,
      repoUrl: repoUrl(env, repo),
      callbackUrl: callbackUrl(env, request),
      // GitHub redelivers on failure; a comment is one request, whatever the delivery.
      idempotencyKey: `gh:${comment.id}`,
      notify: NOTIFY,
      ...(approve.length > 0 ? { policy: { approve } } : {}),
      metadata: { tier1: { source: 'github', repo, issue: issue.number }, escalation: decision.reasons },
    }));
  } catch (err) {
    const why =
      err instanceof AgentApiError ? `${err.code}: ${err.message}` : 'the agent server is unreachable';
    await say(`Sorry @${comment.user.login}, I could not start that (${why}).`);
    return new Response('ok');
  }
  const st = state(env);
  await st.linkWorkflow(wf.id, { kind: 'github', repo, issue: issue.number, user: comment.user.login });
  if (!(await st.acked(wf.id))) {
    await say(`${startedText(wf.type, wf.id)} for @${comment.user.login}. I'll post the result here.`);
    await st.markAcked(wf.id);
  }
  return new Response('ok');
}

async function decideFromComment(
  env: Env,
  issueKey: string,
  allow: boolean,
  who: string,
  say: (t: string) => Promise<void>,
): Promise<void> {
  const st = state(env);
  const pending = await st.issueApproval(issueKey);
  if (!pending) return say(`@${who} there is no pending approval here.`);
  const decision = allow ? 'allow' : 'deny';
  try {
    await agentClient(env).approve(
      pending.target.workflowId,
      pending.target.approvalId,
      decision,
      `${decision} by @${who} on GitHub`,
    );
  } catch (err) {
    if (!(err instanceof AgentApiError) || (err.status !== 409 && err.status !== 404))
      return say(`@${who} the decision could not be sent; please try again.`);
  }
  await st.dropApproval(pending.token);
  await say(`${allow ? 'Allowed' : 'Denied'} by @${who}: ${pending.target.summary}`);
}
