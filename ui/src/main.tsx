// Entry point of the dashboard bundle (built by src/server/ui-build.ts; no inline script anywhere).
import { render } from 'preact';
import './styles.css';
import { App } from './views/App.tsx';

// User-timing marks (ui:*) let bench/ui.ts see where the time to the first screen goes.
performance.mark('ui:start');
const root = document.getElementById('app');
if (root) render(<App />, root);
