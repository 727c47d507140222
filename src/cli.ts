#!/usr/bin/env node
// The `agent-server` command (docs/api.md §12). `start` runs the server in this process (as
// `npm start` does); every other command is a client of a running server (src/cli/).
const [command] = process.argv.slice(2);
if (command === 'start') {
  await import('./main.ts');
} else {
  const { runCli } = await import('./cli/main.ts');
  const controller = new AbortController();
  // Ctrl-C stops following (the workflow goes on); a second one exits at once.
  process.once('SIGINT', () => {
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  process.exitCode = await runCli(process.argv.slice(2), {
    out: process.stdout,
    err: process.stderr,
    signal: controller.signal,
  });
}
