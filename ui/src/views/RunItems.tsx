// One component per kind of run-view item (model/run.ts). Each re-renders only when its item
// changed (`rev`), so a streaming run redraws one block per frame, not the whole log.
// Everything the agent produced is rendered as text or through the Markdown sanitiser — never as
// raw HTML.
import { Component, type ComponentChildren } from 'preact';
import { useMemo } from 'preact/hooks';
import { commitOf, inputSummary, pullRequestOf, pushOf, safeHttpUrl } from '../model/facts.ts';
import { duration, explainFailure, fromNow, usageText } from '../model/format.ts';
import type { ApprovalItem, Item, OutputChunk, RunItem, ToolItem } from '../model/run.ts';
import { parseAnsi } from '../render/ansi.ts';
import { type FileEdit, fileEditOf } from '../render/diff.ts';
import { markdownToHtml } from '../render/markdown.ts';
import { ApprovalActions } from './Approvals.tsx';

export interface RunContext {
  sessionId: string;
  workflowId?: string;
}

/** The last characters of long output are shown; the rest is summarised. */
const MAX_OUTPUT_SHOWN = 64 * 1024;

function Shell({
  item,
  kind,
  children,
  cls,
}: {
  item: Item;
  kind: string;
  children: ComponentChildren;
  cls?: string;
}) {
  return (
    <li class={`item ${kind}${cls ? ` ${cls}` : ''}`} data-kind={kind} data-seqs={item.seqs.join(' ')}>
      {children}
    </li>
  );
}

function Markdown({ text }: { text: string }) {
  const html = useMemo(() => markdownToHtml(text), [text]);
  // Sanitised by DOMPurify (render/markdown.ts); the CSP blocks scripts even if something slipped through.
  return <div class="md" dangerouslySetInnerHTML={{ __html: html }} />;
}

function Ansi({ chunks }: { chunks: OutputChunk[] }) {
  let total = 0;
  for (const c of chunks) total += c.text.length;
  let skip = Math.max(0, total - MAX_OUTPUT_SHOWN);
  const hidden = skip;
  const shown: OutputChunk[] = [];
  for (const c of chunks) {
    if (skip >= c.text.length) {
      skip -= c.text.length;
      continue;
    }
    shown.push({ stream: c.stream, text: c.text.slice(skip) });
    skip = 0;
  }
  return (
    <pre class="out">
      {hidden > 0 ? (
        <span class="a-d">
          … {hidden} earlier characters not shown …{'\n'}
        </span>
      ) : null}
      {shown.map((c, i) => (
        <span key={i} class={c.stream === 'stderr' ? 'stderr' : undefined}>
          {parseAnsi(c.text).map((s, j) => (
            <span key={j} class={s.cls || undefined}>
              {s.text}
            </span>
          ))}
        </span>
      ))}
    </pre>
  );
}

function DiffView({ edit }: { edit: FileEdit }) {
  return (
    <figure class="diff" data-testid="diff">
      <figcaption>
        <span class="mono">{edit.path}</span> {edit.op === 'write' ? '(written)' : '(edited)'}
      </figcaption>
      <pre>
        {edit.lines.map((l, i) => (
          <span key={i} class={`dl ${l.kind}`}>
            <span class="sign" aria-hidden="true">
              {l.kind === 'add' ? '+' : l.kind === 'del' ? '-' : ' '}
            </span>
            <span class="sr-only">{l.kind === 'add' ? 'added: ' : l.kind === 'del' ? 'removed: ' : ''}</span>
            {l.text}
            {'\n'}
          </span>
        ))}
        {edit.omitted > 0 ? <span class="dl hunk">… {edit.omitted} more lines</span> : null}
      </pre>
    </figure>
  );
}

class ToolCard extends Component<{ item: ToolItem; rev: number }, { open?: boolean }> {
  override shouldComponentUpdate(next: { item: ToolItem; rev: number }, state: { open?: boolean }) {
    return next.rev !== this.props.rev || next.item !== this.props.item || state.open !== this.state.open;
  }
  override render() {
    const t = this.props.item;
    const running = !t.result;
    const failed = t.result?.isError === true;
    const open = this.state.open ?? (running || failed);
    const edit = fileEditOf(t.name, t.input);
    const commit = commitOf(t);
    const push = pushOf(t);
    const pr = safeHttpUrl(pullRequestOf(t));
    const status = running ? (t.approvalId ? 'waiting for approval' : 'running') : failed ? 'error' : 'ok';
    return (
      <Shell item={t} kind="tool" cls={running ? 'running' : failed ? 'failed' : 'done'}>
        <article class="tool-card" data-tool={t.name} data-tool-use={t.toolUseId}>
          <details
            open={open}
            onToggle={(e) => {
              // Only a person's toggle is remembered; setting `open` from here fires this event too.
              const now = (e.currentTarget as HTMLDetailsElement).open;
              if (now !== open) this.setState({ open: now });
            }}
          >
            <summary>
              <span class="tool-name">{t.name}</span>{' '}
              <span class="mono summary">{inputSummary(t.name, t.input)}</span>{' '}
              <span class={`tool-status ${running ? 'running' : failed ? 'failed' : 'ok'}`}>
                {status}
                {t.result ? ` · ${duration(t.result.durationMs)}` : ''}
              </span>
            </summary>
            {open ? (
              <div class="tool-body">
                <div class="label">Input</div>
                <pre class="code">{JSON.stringify(t.input, null, 2) ?? ''}</pre>
                {t.output.length > 0 ? (
                  <>
                    <div class="label">Output</div>
                    <Ansi chunks={t.output} />
                  </>
                ) : null}
                {t.result ? (
                  <>
                    <div class="label">{failed ? 'Error' : 'Result'}</div>
                    <pre class={failed ? 'code error' : 'code'}>{t.result.output}</pre>
                  </>
                ) : null}
              </div>
            ) : null}
          </details>
          {edit ? <DiffView edit={edit} /> : null}
          {commit ? (
            <p class="fact commit" data-testid="commit">
              Committed <code>{commit.sha}</code> on <code>{commit.branch}</code>: {commit.message}
            </p>
          ) : null}
          {push ? (
            <p class="fact push" data-testid="push">
              Pushed <code>{push.range}</code> → <code>{push.ref}</code>
            </p>
          ) : null}
          {pr ? (
            <p class="fact pr">
              Pull request:{' '}
              <a href={pr} target="_blank" rel="noopener noreferrer">
                {pr}
              </a>
            </p>
          ) : null}
        </article>
      </Shell>
    );
  }
}

function RunLine({ item }: { item: RunItem }) {
  const d = item.data;
  switch (item.type) {
    case 'run.queued':
      return (
        <Shell item={item} kind="run" cls="queued">
          Queued (attempt {String(d.attempt)}){d.reason ? ` — re-queued: ${String(d.reason)}` : ''}
        </Shell>
      );
    case 'run.started':
      return (
        <Shell item={item} kind="run" cls="started">
          Run started · {String(d.engine)} · {String(d.model)}
          {Number(d.attempt) > 1 ? ` · attempt ${String(d.attempt)}` : ''}
        </Shell>
      );
    case 'run.completed':
      return (
        <Shell item={item} kind="run" cls="completed">
          Run completed ({String(d.stopReason)}) · {usageText(d.usage as never)}
        </Shell>
      );
    case 'run.failed': {
      const err = (d.error ?? {}) as { code?: string; message?: string };
      return (
        <Shell item={item} kind="run" cls="failed">
          <div role="note" class="failure">
            <strong>Run failed</strong> <code>{err.code}</code>: {explainFailure(err.code ?? '')}.
            {err.message ? <div class="sub">{err.message}</div> : null}
          </div>
        </Shell>
      );
    }
    case 'run.cancelled':
      return (
        <Shell item={item} kind="run" cls="cancelled">
          Run cancelled{d.reason ? ` — ${String(d.reason)}` : ''}
        </Shell>
      );
  }
}

function ApprovalCard({ item, ctx }: { item: ApprovalItem; ctx: RunContext }) {
  return (
    <Shell item={item} kind="approval" cls={item.resolved ? 'resolved' : 'pending'}>
      <div class="approval-card" data-approval={item.approvalId}>
        <p>
          <strong>Approval {item.resolved ? 'decided' : 'requested'}</strong> for <code>{item.name}</code>{' '}
          <span class="mono">{inputSummary(item.name, item.input)}</span> (rule <code>{item.rule}</code>)
        </p>
        {item.resolved ? (
          <p class="sub">
            {item.resolved.decision === 'allow' ? 'Allowed' : 'Denied'} by {item.resolved.by}
            {item.resolved.message ? `: ${item.resolved.message}` : ''}
          </p>
        ) : (
          <>
            <p class="sub">Expires {fromNow(item.expiresAt)}</p>
            <ApprovalActions
              target={{
                approvalId: item.approvalId,
                sessionId: ctx.sessionId,
                name: item.name,
                ...(ctx.workflowId ? { workflowId: ctx.workflowId } : {}),
              }}
            />
          </>
        )}
      </div>
    </Shell>
  );
}

/** One item of the log; skips re-rendering when the item did not change. */
export class ItemView extends Component<{ item: Item; rev: number; ctx: RunContext }> {
  override shouldComponentUpdate(next: { item: Item; rev: number; ctx: RunContext }) {
    return next.rev !== this.props.rev || next.item !== this.props.item || next.ctx !== this.props.ctx;
  }
  override render() {
    const { item, ctx } = this.props;
    switch (item.kind) {
      case 'user':
        return (
          <Shell item={item} kind="user">
            <div class="who">You</div>
            <div class="plain">{item.text}</div>
          </Shell>
        );
      case 'assistant':
        return (
          <Shell item={item} kind="assistant" cls={item.streaming ? 'streaming' : undefined}>
            <div class="who">Agent</div>
            <Markdown text={item.text} />
          </Shell>
        );
      case 'tool':
        return <ToolCard item={item} rev={item.rev} />;
      case 'run':
        return <RunLine item={item} />;
      case 'approval':
        return <ApprovalCard item={item} ctx={ctx} />;
      case 'notice':
        return (
          <Shell item={item} kind="notice">
            {item.message}
          </Shell>
        );
      case 'workflow':
        return (
          <Shell item={item} kind="workflow">
            Workflow is now <strong>{item.status}</strong>
          </Shell>
        );
      case 'other':
        return (
          <Shell item={item} kind="other">
            <code>{item.type}</code>
            <pre class="code">{JSON.stringify(item.data, null, 2)}</pre>
          </Shell>
        );
    }
  }
}
