// The shell: sign-in gate, navigation (with the pending-approvals count and the live connection's
// state), and the page of the current route.
import { useEffect, useState } from 'preact/hooks';
import { credentials, setUnauthorizedHandler } from '../api.ts';
import { type LiveState, live } from '../live.ts';
import { href, type Route, useRoute } from '../router.ts';
import { ApprovalsPage, useApprovalCount } from './Approvals.tsx';
import { NewSessionPage, NewWorkflowPage } from './NewRun.tsx';
import { OperationsPage } from './Operations.tsx';
import { RunView } from './RunView.tsx';
import { SessionsPage } from './Sessions.tsx';
import { SignIn } from './SignIn.tsx';
import { WorkflowsPage } from './Workflows.tsx';

type Auth = 'checking' | 'signed-in' | 'open' | 'signed-out';

export function App() {
  const [auth, setAuth] = useState<Auth>('checking');
  const [reason, setReason] = useState<string>();
  useEffect(() => {
    setUnauthorizedHandler(() => {
      credentials.clear();
      live.stop();
      setReason('The server no longer accepts the key: sign in again.');
      setAuth('signed-out');
    });
    // With a stored key the app starts at once (a refused key comes back as a 401 from the first
    // request and leads to sign-in). Without one, a server without auth (loopback only) needs none.
    if (credentials.get()) {
      setAuth('signed-in');
      return;
    }
    fetch('/ui/server.json', { cache: 'no-store', credentials: 'omit' })
      .then((r) => r.json() as Promise<{ authRequired?: boolean }>)
      .catch(() => ({ authRequired: true }))
      .then((info) => setAuth(info.authRequired === false ? 'open' : 'signed-out'));
  }, []);
  if (auth === 'checking') return <p aria-busy="true">Loading…</p>;
  if (auth === 'signed-out')
    return (
      <SignIn
        reason={reason}
        onSignedIn={() => {
          setReason(undefined);
          setAuth('signed-in');
        }}
      />
    );
  return (
    <Shell
      canSignOut={auth === 'signed-in'}
      onSignOut={() => {
        credentials.clear();
        live.stop();
        setAuth('signed-out');
      }}
    />
  );
}

function useLiveState(): LiveState {
  const [state, setState] = useState<LiveState>(live.state);
  useEffect(() => {
    live.start();
    setState(live.state);
    return live.watch(setState);
  }, []);
  return state;
}

const LIVE_TEXT: Record<LiveState, string> = {
  connecting: 'connecting…',
  open: 'live',
  reconnecting: 'reconnecting…',
  offline: 'offline',
  stopped: 'disconnected',
};

function Shell({ canSignOut, onSignOut }: { canSignOut: boolean; onSignOut: () => void }) {
  const route = useRoute();
  const state = useLiveState();
  const approvals = useApprovalCount();
  const current = (pages: Route['page'][]) => (pages.includes(route.page) ? 'page' : undefined);
  return (
    <>
      {/* A button, not a #main link: the hash is the route. */}
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <a class="brand" href={href.sessions}>
          duyetbot
        </a>
        <nav aria-label="Main">
          <a href={href.sessions} aria-current={current(['sessions', 'session', 'new-session'])}>
            Sessions
          </a>
          <a href={href.workflows} aria-current={current(['workflows', 'workflow', 'new-workflow'])}>
            Workflows
          </a>
          <a href={href.approvals} aria-current={current(['approvals'])} data-testid="nav-approvals">
            Approvals
            {typeof approvals === 'number' && approvals > 0 ? (
              <span class="count" data-testid="approval-count">
                {approvals}
                <span class="sr-only"> pending</span>
              </span>
            ) : null}
          </a>
          <a href={href.ops} aria-current={current(['ops'])}>
            Operations
          </a>
        </nav>
        <span class={`live ${state}`} role="status" data-testid="live-state">
          {LIVE_TEXT[state]}
        </span>
        {canSignOut ? (
          <button type="button" class="secondary small" onClick={onSignOut}>
            Sign out
          </button>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'sessions':
      return <SessionsPage />;
    case 'session':
      return <RunView key={route.id} sessionId={route.id} />;
    case 'workflows':
      return <WorkflowsPage />;
    case 'workflow':
      // A workflow's session has the workflow's id (docs/api.md §5).
      return <RunView key={route.id} sessionId={route.id} workflowId={route.id} />;
    case 'new-session':
      return <NewSessionPage />;
    case 'new-workflow':
      return <NewWorkflowPage />;
    case 'approvals':
      return <ApprovalsPage />;
    case 'ops':
      return <OperationsPage />;
  }
}
