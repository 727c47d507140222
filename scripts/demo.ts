// `npm run demo`: the whole loop on this machine in a few seconds. A mock Anthropic API replays a
// scripted bugfix conversation; the real server (in-process, temp DATA_DIR) clones a local bare
// repository, runs the agent's tools for real (fs, bash, git), and streams every event over WebSocket.
//
//   node scripts/demo.ts [--engine native|claude-code] [--sandbox] [--json]
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify, styleText } from 'node:util';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.ts';
import {
  bugfixScenario,
  bugfixScenarioClaudeCode,
  createBugfixRepo,
  type MockLlm,
  startMockLlm,
} from '../src/mock-llm/index.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { createRuntime, type Runtime } from '../src/runtime.ts';

const PROMPT = 'The tests are failing — find and fix the bug, run the tests, commit and push.';
const TIMEOUT_MS = 60_000;
const runFile = promisify(execFile);

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: 'native' },
    sandbox: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
const usage = 'usage: node scripts/demo.ts [--engine native|claude-code] [--sandbox] [--json]';
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const engine = values.engine;
if (engine !== 'native' && engine !== 'claude-code') {
  console.error(`--engine must be native or claude-code, got "${engine}"\n${usage}`);
  process.exit(2);
}
const jsonMode = values.json === true;
// `npm run demo | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
/** Human-readable notes: stdout normally, stderr in --json mode so stdout stays pure NDJSON. */
const note = (line: string): void => {
  (jsonMode ? process.stderr : process.stdout).write(`${line}\n`);
};
const dim = (s: string): string => styleText('dim', s);
const bold = (s: string): string => styleText('bold', s);

note(
  bold(
    'Scripted replay: a mock Anthropic API plays back a fixed bugfix conversation — no real model is called. ' +
      'The server, git, the tools and the event stream are real.',
  ),
);

if (engine === 'claude-code') {
  const runtimeSrc = readFileSync(new URL('../src/runtime.ts', import.meta.url), 'utf8');
  if (!runtimeSrc.includes('createClaudeCodeEngine')) {
    console.error(
      'The claude-code engine is not wired into this build yet (src/runtime.ts does not create it). ' +
        'Run the demo with --engine native.',
    );
    process.exit(1);
  }
}

interface DemoEvent {
  seq: number;
  type: string;
  runId?: string;
  data: Record<string, unknown>;
}

const cleanup: Array<() => Promise<unknown>> = [];
async function shutdown(code: number): Promise<never> {
  for (const fn of cleanup.reverse()) await fn().catch(() => {});
  process.exit(code);
}

const root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'agent-demo-')));
cleanup.push(() => fs.rm(root, { recursive: true, force: true }));

// Small chunks with a short pause between them, so the stream is visibly a stream.
// Inside the sandbox Claude Code's Bash cannot see the local remote: push with the server's git tool.
const scenario =
  engine === 'claude-code' && values.sandbox
    ? bugfixScenarioClaudeCode({ push: 'server-git' })
    : bugfixScenario(engine);
const mock: MockLlm = await startMockLlm({
  responder: async (req, info) => {
    const turn = await scenario(req, info);
    return turn.kind === 'reply' ? { ...turn, chunkSize: 6, deltaDelayMs: 20 } : turn;
  },
});
cleanup.push(() => mock.close());
const { bareRepo } = await createBugfixRepo(path.join(root, 'fixture'));

const dataDir = path.join(root, 'data');
const config = loadConfig({
  ...process.env,
  PORT: '0',
  HOST: '127.0.0.1',
  DATA_DIR: dataDir,
  ALLOW_FILE_REPOS: 'true',
  SANDBOX: values.sandbox ? 'bwrap' : 'none',
  AGENT_ENGINE: engine,
  ANTHROPIC_BASE_URL: mock.url,
  ANTHROPIC_API_KEY: 'demo-key',
  API_KEYS: '',
  SIGNING_SECRET: '',
  DATABASE_URL: '',
  REDIS_URL: '',
  LOG_LEVEL: 'error',
});
const runtime: Runtime = await createRuntime(config, { logger: silentLogger });
const listening = await runtime.start();
cleanup.push(() => runtime.shutdown(2_000));

note(`${dim('mock LLM  ')} ${mock.url}  (scenario: bugfix, ${engine})`);
note(
  `${dim('server    ')} ${listening.url}  (in-process; DATA_DIR=${dataDir}, SANDBOX=${config.sandbox}, engine=${engine})`,
);
note(`${dim('repository')} ${bareRepo}  (math.js: add() subtracts, so \`node test.js\` fails)`);

const api = async <T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> => {
  const res = await fetch(listening.url + p, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
};

const created = await api<{ id: string; error?: { message: string } }>('POST', '/api/sessions', {
  title: 'demo: fix the failing test',
  repoUrl: bareRepo,
  engine,
});
if (created.status !== 201) {
  console.error(`creating the session failed (${created.status}): ${JSON.stringify(created.body)}`);
  await shutdown(1);
}
const sessionId = created.body.id;
note(`${dim('session   ')} ${sessionId}`);

const ws = new WebSocket(`${listening.url.replace(/^http/, 'ws')}/ws`);
cleanup.push(
  () =>
    new Promise<void>((r) => {
      if (ws.readyState === ws.CLOSED) return r();
      ws.once('close', () => r());
      ws.close();
    }),
);
await new Promise<void>((resolve, reject) => {
  ws.once('open', () => resolve());
  ws.once('error', reject);
});

// --- pretty printing of the event stream ------------------------------------------------------

/** What the current output line is in the middle of: streamed assistant text or tool output. */
let open: { kind: 'text' | 'output'; first: number; last: number; atLineStart: boolean } | undefined;
const out = (s: string): void => {
  process.stdout.write(s);
};
const seqLabel = (seq: number): string => dim(`#${seq}`.padStart(4));
const closeOpen = (): void => {
  if (!open) return;
  const range = open.first === open.last ? `#${open.first}` : `#${open.first}–#${open.last}`;
  out(`${open.atLineStart ? '' : '\n'}${dim(`      └ ${range}`)}\n`);
  open = undefined;
};
const shortJson = (v: unknown, max = 160): string => {
  const s = JSON.stringify(v) ?? '';
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
};
const indentLines = (text: string, atLineStart: boolean): { text: string; atLineStart: boolean } => {
  let r = '';
  let start = atLineStart;
  for (const ch of text) {
    if (start) r += '        ';
    r += ch;
    start = ch === '\n';
  }
  return { text: r, atLineStart: start };
};

function printEvent(e: DemoEvent): void {
  const d = e.data;
  if (e.type === 'text.delta' || e.type === 'tool.output') {
    const kind = e.type === 'text.delta' ? 'text' : 'output';
    const chunk = String(kind === 'text' ? d.text : d.chunk);
    if (!open || open.kind !== kind) {
      closeOpen();
      const head =
        kind === 'text'
          ? `${seqLabel(e.seq)} ${styleText('cyan', 'assistant ▸')}`
          : `${seqLabel(e.seq)} ${styleText('yellow', `${d.stream === 'stderr' ? 'stderr' : 'stdout'} ▸`)}`;
      out(`${head}\n`);
      open = { kind, first: e.seq, last: e.seq, atLineStart: true };
    }
    open.last = e.seq;
    const ind = indentLines(chunk, open.atLineStart);
    out(kind === 'text' ? styleText('cyan', ind.text) : ind.text);
    open.atLineStart = ind.atLineStart;
    return;
  }
  closeOpen();
  const label = (t: string): string => `${seqLabel(e.seq)} ${bold(t.padEnd(17))}`;
  switch (e.type) {
    case 'message.user':
      out(`${label(e.type)} ${JSON.stringify(d.text)}\n`);
      break;
    case 'run.started':
      out(`${label(e.type)} engine=${d.engine} model=${d.model} attempt=${d.attempt}\n`);
      break;
    case 'tool.started':
      out(`${label(e.type)} ${styleText('magenta', String(d.name))} ${shortJson(d.input)}\n`);
      break;
    case 'tool.completed': {
      const status = d.isError ? styleText('red', 'error') : styleText('green', 'ok');
      const output = String(d.output ?? '')
        .trim()
        .split('\n')[0];
      out(
        `${label(e.type)} ${styleText('magenta', String(d.name))} ${status} in ${d.durationMs} ms${output ? dim(`  ${output.slice(0, 100)}`) : ''}\n`,
      );
      break;
    }
    case 'message.assistant':
      out(`${label(e.type)} ${JSON.stringify(d.text)}\n`);
      break;
    case 'run.completed': {
      const u = d.usage as { inputTokens?: number; outputTokens?: number; costUsd?: number } | undefined;
      out(
        `${label(e.type)} ${styleText('green', String(d.stopReason))}  tokens in/out ${u?.inputTokens}/${u?.outputTokens}, ` +
          `$${(u?.costUsd ?? 0).toFixed(4)} (mock pricing of the scripted tokens)\n`,
      );
      break;
    }
    case 'run.failed':
      out(`${label(e.type)} ${styleText('red', shortJson(d.error, 400))}\n`);
      break;
    default:
      out(`${label(e.type)} ${Object.keys(d).length > 0 ? shortJson(d) : ''}\n`);
  }
}

// --- drive the session ------------------------------------------------------------------------

const finished = new Promise<DemoEvent>((resolve, reject) => {
  const timer = setTimeout(
    () => reject(new Error(`no terminal event within ${TIMEOUT_MS / 1000} s`)),
    TIMEOUT_MS,
  );
  ws.on('message', (raw) => {
    const text = raw.toString();
    if (jsonMode) out(`${text}\n`);
    const frame = JSON.parse(text) as { type: string; event?: DemoEvent; message?: string };
    if (frame.type === 'error') {
      if (!jsonMode) note(styleText('red', `ws error: ${frame.message}`));
      return;
    }
    if (frame.type !== 'event' || !frame.event) return;
    if (!jsonMode) printEvent(frame.event);
    if (['run.completed', 'run.failed', 'run.cancelled'].includes(frame.event.type)) {
      clearTimeout(timer);
      resolve(frame.event);
    }
  });
  ws.on('close', () => reject(new Error('the WebSocket closed before the run ended')));
});
ws.send(JSON.stringify({ type: 'subscribe', sessionId, after: 0 }));

note(`${dim('you       ')} ${PROMPT}\n`);
const t0 = performance.now();
const sent = await api<{ runId?: string }>('POST', `/api/sessions/${sessionId}/messages`, {
  content: PROMPT,
});
if (sent.status !== 202) {
  console.error(`sending the message failed (${sent.status}): ${JSON.stringify(sent.body)}`);
  await shutdown(1);
}

let terminal: DemoEvent;
try {
  terminal = await finished;
} catch (err) {
  closeOpen();
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  await shutdown(1);
  throw err; // unreachable: shutdown exits
}
closeOpen();
const elapsed = Math.round(performance.now() - t0);

const { stdout: gitLog } = await runFile('git', ['--git-dir', bareRepo, 'log', '-1', '--stat', 'main'], {
  env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
});
if (jsonMode) {
  out(`${JSON.stringify({ type: 'demo.gitLog', repo: bareRepo, log: gitLog })}\n`);
} else {
  note(`\n${dim(`run ${terminal.type} in ${elapsed} ms — the bare repository now has:`)}`);
  note(`${dim('$')} git --git-dir ${bareRepo} log -1 --stat main`);
  note(gitLog.trimEnd());
}
await shutdown(terminal.type === 'run.completed' ? 0 : 1);
