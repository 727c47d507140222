// Sign-in: the API key is typed once, checked against the server, and kept in sessionStorage for
// this browser session (closing the tab forgets it). It is sent only as an Authorization header.
import { useState } from 'preact/hooks';
import { ApiError, api, credentials } from '../api.ts';
import { ErrorNote, Field, inputValue, useSubmit } from './common.tsx';

export function SignIn({ onSignedIn, reason }: { onSignedIn: () => void; reason?: string }) {
  const [key, setKey] = useState('');
  const { busy, error, submit } = useSubmit(
    async () => {
      credentials.set(key.trim());
      try {
        await api('GET', '/api/sessions?limit=1');
      } catch (err) {
        credentials.clear();
        throw err;
      }
      setKey('');
      onSignedIn();
    },
    (err) =>
      err instanceof ApiError && err.status === 401 ? new Error('The server does not accept this key.') : err,
  );
  return (
    <main id="main" class="signin">
      <h1>duyetbot agent server</h1>
      <form class="form" onSubmit={submit}>
        {reason ? <p class="note">{reason}</p> : null}
        <Field label="API key" hint="Kept for this browser tab only; sent as an Authorization header.">
          <input
            type="password"
            name="apiKey"
            autoComplete="current-password"
            required
            value={key}
            onInput={(e) => setKey(inputValue(e))}
          />
        </Field>
        <ErrorNote error={error} />
        <button type="submit" disabled={busy || !key.trim()}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
