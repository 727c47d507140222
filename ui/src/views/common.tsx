// Small pieces shared by the pages: polling, status badges, error notes.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api.ts';

export interface Poll<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload(): void;
}

/**
 * Calls `fn` now, whenever `deps` change, and every `everyMs` while the page is visible (a hidden
 * tab does not poll; it refreshes when it is shown again).
 */
export function usePoll<T>(fn: () => Promise<T>, deps: unknown[], everyMs: number): Poll<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const gen = useRef(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const run = useCallback(() => {
    const mine = ++gen.current;
    fnRef.current().then(
      (d) => {
        if (mine !== gen.current) return;
        setData(d);
        setError(undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (mine !== gen.current) return;
        setError(e);
        setLoading(false);
      },
    );
  }, []);
  useEffect(() => {
    setLoading(true);
    run();
    if (everyMs <= 0) return;
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') run();
    }, everyMs);
    const onVisible = () => document.visibilityState === 'visible' && run();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearInterval(t);
      document.removeEventListener('visibilitychange', onVisible);
      gen.current++;
    };
  }, deps);
  return { data, error, loading, reload: run };
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError)
    return err.status ? `${err.message} (${err.code}, HTTP ${err.status})` : err.message;
  return err instanceof Error ? err.message : String(err);
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="note error" role="alert">
      {errorText(error)}
    </p>
  );
}

export function Badge({ status }: { status: string }) {
  return <span class={`badge s-${status.replace(/[^a-z_-]/gi, '')}`}>{status}</span>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** A labelled field: label above the control, one column on a phone. */
export function Field({
  label,
  children,
  hint,
}: {
  label: string;
  children: ComponentChildren;
  hint?: string;
}) {
  // The control is the child: a wrapping label names it (implicit association).
  return (
    // biome-ignore lint/a11y/noLabelWithoutControl: the control is passed as a child
    <label class="field">
      <span class="label">{label}</span>
      {children}
      {hint ? <span class="hint">{hint}</span> : null}
    </label>
  );
}

export const inputValue = (e: Event): string => (e.currentTarget as HTMLInputElement).value;

/**
 * A form's submit: runs `action` once at a time, with `busy` while it runs and its failure as `error`
 * (mapped by `explain`, if given). Success leaves `busy` set: the form is about to be left.
 */
export function useSubmit(action: () => Promise<void>, explain?: (err: unknown) => unknown) {
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (err) {
      setError(explain ? explain(err) : err);
      setBusy(false);
    }
  };
  return { busy, error, submit };
}
