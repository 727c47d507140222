// Start work: a session (optionally on a repository) with its first message, or a workflow.
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { href, navigate } from '../router.ts';
import type { Session, Workflow } from '../types.ts';
import { ErrorNote, Field, inputValue, useSubmit } from './common.tsx';

const ENGINES = ['', 'native', 'claude-code'];

const optional = (v: string) => (v.trim() ? v.trim() : undefined);

export function NewSessionPage() {
  const [title, setTitle] = useState('');
  const [repoUrl, setRepoUrl] = useState('');
  const [branch, setBranch] = useState('');
  const [engine, setEngine] = useState('');
  const [message, setMessage] = useState('');
  const { busy, error, submit } = useSubmit(async () => {
    const s = await api<Session>('POST', '/api/sessions', {
      title: optional(title),
      repoUrl: optional(repoUrl),
      branch: optional(branch),
      engine: optional(engine),
    });
    if (message.trim())
      await api('POST', `/api/sessions/${encodeURIComponent(s.id)}/messages`, { content: message });
    navigate(href.session(s.id));
  });
  return (
    <section aria-labelledby="new-session-h">
      <h1 id="new-session-h">New session</h1>
      <form class="form" onSubmit={submit}>
        <Field label="Title">
          <input name="title" value={title} onInput={(e) => setTitle(inputValue(e))} maxLength={200} />
        </Field>
        <Field label="Repository URL" hint="https://… or git@…; cloned before the first run">
          <input name="repoUrl" value={repoUrl} onInput={(e) => setRepoUrl(inputValue(e))} class="mono" />
        </Field>
        <Field label="Branch">
          <input name="branch" value={branch} onInput={(e) => setBranch(inputValue(e))} class="mono" />
        </Field>
        <Field label="Engine">
          <select name="engine" value={engine} onChange={(e) => setEngine(inputValue(e))}>
            {ENGINES.map((x) => (
              <option key={x} value={x}>
                {x || 'server default'}
              </option>
            ))}
          </select>
        </Field>
        <Field label="First message">
          <textarea name="message" rows={5} value={message} onInput={(e) => setMessage(inputValue(e))} />
        </Field>
        <ErrorNote error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Starting…' : 'Start session'}
        </button>
      </form>
    </section>
  );
}

const TYPES = ['custom', 'refactor', 'analysis', 'test', 'deploy'];
const PRIORITIES = ['medium', 'high', 'low'];

export function NewWorkflowPage() {
  const [type, setType] = useState('custom');
  const [priority, setPriority] = useState('medium');
  const [repoUrl, setRepoUrl] = useState('');
  const [branch, setBranch] = useState('');
  const [instructions, setInstructions] = useState('');
  const { busy, error, submit } = useSubmit(async () => {
    const w = await api<Workflow>('POST', '/api/workflows', {
      type,
      priority,
      instructions,
      repoUrl: optional(repoUrl),
      branch: optional(branch),
    });
    navigate(href.workflow(w.id));
  });
  return (
    <section aria-labelledby="new-workflow-h">
      <h1 id="new-workflow-h">New workflow</h1>
      <form class="form" onSubmit={submit}>
        <Field label="Type">
          <select name="type" value={type} onChange={(e) => setType(inputValue(e))}>
            {TYPES.map((x) => (
              <option key={x}>{x}</option>
            ))}
          </select>
        </Field>
        <Field label="Priority">
          <select name="priority" value={priority} onChange={(e) => setPriority(inputValue(e))}>
            {PRIORITIES.map((x) => (
              <option key={x}>{x}</option>
            ))}
          </select>
        </Field>
        <Field label="Repository URL">
          <input name="repoUrl" value={repoUrl} onInput={(e) => setRepoUrl(inputValue(e))} class="mono" />
        </Field>
        <Field label="Branch">
          <input name="branch" value={branch} onInput={(e) => setBranch(inputValue(e))} class="mono" />
        </Field>
        <Field label="Instructions">
          <textarea
            name="instructions"
            rows={6}
            required
            value={instructions}
            onInput={(e) => setInstructions(inputValue(e))}
          />
        </Field>
        <ErrorNote error={error} />
        <button type="submit" disabled={busy || !instructions.trim()}>
          {busy ? 'Submitting…' : 'Submit workflow'}
        </button>
      </form>
    </section>
  );
}
