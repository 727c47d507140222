// Runs the mock Anthropic API until SIGINT/SIGTERM.
//   node scripts/mock-llm.ts [--port N] [--host H] [--scenario bugfix-native|bugfix-claude-code|echo]
//                            [--chars N --chunk N --delay-ms N] [--api-key KEY]
// With --chars, every request gets a streamed text reply of N characters (benchmarks).
// Prints the URL to use as ANTHROPIC_BASE_URL.
import { parseArgs } from 'node:util';
import {
  bugfixScenarioClaudeCode,
  bugfixScenarioNative,
  echoScenario,
  type Responder,
  startMockLlm,
  streamingText,
} from '../src/mock-llm/index.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    scenario: { type: 'string' },
    chars: { type: 'string' },
    chunk: { type: 'string' },
    'delay-ms': { type: 'string' },
    'api-key': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

const usage =
  'usage: node scripts/mock-llm.ts [--port N] [--host H] [--scenario bugfix-native|bugfix-claude-code|echo]\n' +
  '                                [--chars N --chunk N --delay-ms N] [--api-key KEY]';

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got "${v}"\n${usage}`);
    process.exit(2);
  }
  return n;
}

if (values.help) {
  console.log(usage);
  process.exit(0);
}

const port = int('port', values.port) ?? 0;
const chars = int('chars', values.chars);
const chunk = int('chunk', values.chunk);
const delayMs = int('delay-ms', values['delay-ms']);

let responder: Responder;
let label: string;
if (chars !== undefined) {
  responder = streamingText(chars, {
    ...(chunk !== undefined ? { chunkSize: chunk } : {}),
    ...(delayMs !== undefined ? { deltaDelayMs: delayMs } : {}),
  });
  label = `streaming text (${chars} chars, chunk ${chunk ?? 16}, delay ${delayMs ?? 0} ms)`;
} else {
  const scenario = values.scenario ?? 'echo';
  if (scenario === 'bugfix-native') responder = bugfixScenarioNative();
  // Pushes through the server's git tool (mcp__server__git): Claude Code's own Bash cannot see a
  // local remote from inside the sandbox, which is the server's default.
  else if (scenario === 'bugfix-claude-code') responder = bugfixScenarioClaudeCode({ push: 'server-git' });
  else if (scenario === 'echo') responder = echoScenario();
  else {
    console.error(`unknown scenario "${scenario}"\n${usage}`);
    process.exit(2);
  }
  label = `scenario ${scenario}`;
}

const mock = await startMockLlm({
  port,
  host: values.host,
  responder,
  ...(values['api-key'] !== undefined ? { requireApiKey: values['api-key'] } : {}),
});
console.log(`mock Anthropic API listening on ${mock.url} — ${label}`);
console.log(`ANTHROPIC_BASE_URL=${mock.url}`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  console.log(`stopping (${mock.requests.length} requests recorded)`);
  mock.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
