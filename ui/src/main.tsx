// Entry point of the dashboard bundle (built by src/server/ui-build.ts; no inline script anywhere).
import { render } from 'preact';
import './styles.css';
import { App } from './views/App.tsx';

const root = document.getElementById('app');
if (root) render(<App />, root);
