// Hash routes (#/sessions/ses_…): the server serves one page, and the key never rides in a path.
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'sessions' }
  | { page: 'session'; id: string }
  | { page: 'workflows' }
  | { page: 'workflow'; id: string }
  | { page: 'new-session' }
  | { page: 'new-workflow' }
  | { page: 'approvals' }
  | { page: 'ops' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const [a, b] = parts;
  if (a === 'sessions' && b) return { page: 'session', id: b };
  if (a === 'workflows' && b) return { page: 'workflow', id: b };
  if (a === 'workflows') return { page: 'workflows' };
  if (a === 'new' && b === 'workflow') return { page: 'new-workflow' };
  if (a === 'new') return { page: 'new-session' };
  if (a === 'approvals') return { page: 'approvals' };
  if (a === 'ops') return { page: 'ops' };
  return { page: 'sessions' };
}

export const href = {
  sessions: '#/sessions',
  session: (id: string) => `#/sessions/${encodeURIComponent(id)}`,
  workflows: '#/workflows',
  workflow: (id: string) => `#/workflows/${encodeURIComponent(id)}`,
  newSession: '#/new/session',
  newWorkflow: '#/new/workflow',
  approvals: '#/approvals',
  ops: '#/ops',
};

export function navigate(to: string): void {
  location.hash = to;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}
