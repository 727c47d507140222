// Entry point (`npm start`). Turns on Node's on-disk compile cache before loading the server, so a
// restart does not re-parse and re-compile every module (cold start is what a crash-restart waits on).
import module from 'node:module';

module.enableCompileCache?.();
await import('./server-main.ts');
