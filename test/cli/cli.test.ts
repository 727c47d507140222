// The `agent-server` CLI as a user runs it: the package's bin in a child process, against a live
// server on loopback with the mock LLM — output, --json and the exit codes of docs/api.md §12.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  byMarker,
  type MockLlm,
  type Responder,
  scripted,
  textReply,
  toolCall,
} from '../../src/mock-llm/index.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import type { TestServer } from '../helpers/server.ts';

const BIN = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const KEY = 'cli-test-key';

function responder(): Responder {
  return byMarker(
    {
      tool: scripted([
        toolCall('bash', { command: 'echo out-line; echo err-line >&2' }),
        textReply('All done here.', { stopReason: 'end_turn' }),
      ]),
      fail: scripted([{ kind: 'error', status: 400, type: 'invalid_request_error', message: 'bad prompt' }]),
      slow: scripted([
        toolCall('bash', { command: 'sleep 30' }),
        textReply('slept', { stopReason: 'end_turn' }),
      ]),
    },
    () => textReply('done'),
  );
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', AGENT_SERVER_URL: server.url, AGENT_SERVER_KEY: KEY, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A port that was free a moment ago (listened on, then closed). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

let mock: MockLlm;
let server: TestServer;
beforeAll(async () => {
  ({ mock, server } = await startMockedServer(
    { responder: responder() },
    { ANTHROPIC_API_KEY: 'k', API_KEYS: KEY, RATE_LIMIT_PER_MINUTE: '1000000' },
  ));
});
afterAll(() => closeMockedServer(server, mock));

describe('agent-server CLI', () => {
  it('submit --follow shows the run live (plain text off a TTY) and exits 0 when it completes', async () => {
    const r = await cli([
      'submit',
      '--type',
      'custom',
      '--instructions',
      'do it [[script:tool]]',
      '--follow',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/^workflow wf_\w+ pending — following/);
    expect(out).toMatch(/\[\d\d:\d\d\] ▶ run started · native/);
    expect(out).toContain('⚙ bash  echo out-line; echo err-line >&2');
    expect(out).toContain('    out-line');
    expect(out).toContain('    err-line');
    expect(out).toMatch(/✓ bash \(\d+\.\ds\)/);
    expect(out).toContain('All done here.');
    expect(out).toMatch(/■ completed \(end_turn\)/);
    expect(out).toMatch(/workflow wf_\w+: completed/);
    // Not a TTY: no ANSI colour codes.
    expect(out).not.toContain('\u001b[');
    // The events appear in order: started before the tool, the tool before the end.
    expect(out.indexOf('run started')).toBeLessThan(out.indexOf('⚙ bash'));
    expect(out.indexOf('⚙ bash')).toBeLessThan(out.indexOf('■ completed'));
  });

  it('submit --follow exits 1 when the workflow fails, naming the failure', async () => {
    const r = await cli(['submit', '--type', 'custom', '--instructions', 'x [[script:fail]]', '--follow']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/■ failed: llm_error/);
    expect(r.stdout).toMatch(/error: llm_error/);
  });

  it('--json prints JSON only: the workflow, then each followed event as one line', async () => {
    const plain = await cli(['--json', 'submit', '--type', 'analysis', '--instructions', 'look']);
    expect(plain.code).toBe(0);
    const wf = JSON.parse(plain.stdout) as { id: string; status: string };
    expect(wf.id).toMatch(/^wf_/);

    const followed = await cli(['--json', 'follow', wf.id]);
    expect(followed.code).toBe(0);
    const lines = followed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; type: string });
    expect(lines.map((e) => e.seq)).toEqual(lines.map((_, i) => i + 1)); // every event once, in order
    expect(lines.at(-1)).toMatchObject({ type: 'workflow.status' });

    const list = await cli(['--json', 'workflows', '--status', 'completed']);
    expect(list.code).toBe(0);
    const page = JSON.parse(list.stdout) as { items: Array<{ id: string; status: string }> };
    expect(page.items.some((w) => w.id === wf.id)).toBe(true);
    expect(page.items.every((w) => w.status === 'completed')).toBe(true);
  });

  it('lists workflows and sessions as tables, and cancels a workflow', async () => {
    const submitted = await cli([
      '--json',
      'submit',
      '--type',
      'custom',
      '--instructions',
      'wait [[script:slow]]',
    ]);
    const wf = JSON.parse(submitted.stdout) as { id: string };
    const cancelled = await cli(['cancel', wf.id]);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toMatch(new RegExp(`^workflow ${wf.id} (cancelled|running|pending)`));
    const again = await cli(['follow', wf.id]);
    expect(again.code).toBe(1); // a cancelled workflow did not complete
    expect(again.stdout).toMatch(/workflow wf_\w+: cancelled/);

    const table = await cli(['workflows']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+TYPE\s+PRIORITY\s+AGE\s+COST\s+RESULT$/);
    expect(table.stdout).toContain(wf.id);
    const sessions = await cli(['sessions']);
    expect(sessions.code).toBe(0);
    expect(sessions.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+ENGINE\s+AGE\s+COST\s+TITLE$/);
    expect(sessions.stdout).toContain(wf.id); // a workflow's session has the workflow's id
  });

  it('follows a session until it is idle', async () => {
    const s = (await (
      await fetch(`${server.url}/api/sessions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
        body: '{}',
      })
    ).json()) as { id: string };
    await fetch(`${server.url}/api/sessions/${s.id}/messages`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ content: 'go [[script:tool]]' }),
    });
    const r = await cli(['follow', s.id]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('› go [[script:tool]]');
    expect(r.stdout).toMatch(/■ completed/);
  });

  it('lists pending approvals and decides one; an unknown approval exits 1', async () => {
    const headers = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' };
    const s = (await (
      await fetch(`${server.url}/api/sessions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ policy: { approve: ['shell'] } }),
      })
    ).json()) as { id: string };
    await fetch(`${server.url}/api/sessions/${s.id}/messages`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ content: 'go [[script:tool]]' }),
    });
    let listed: { items: Array<{ approvalId: string; sessionId: string; rule: string }> } = { items: [] };
    for (let i = 0; i < 200 && !listed.items.some((a) => a.sessionId === s.id); i++) {
      listed = JSON.parse((await cli(['--json', 'approvals'])).stdout);
    }
    const pending = listed.items.find((a) => a.sessionId === s.id)!;
    expect(pending.rule).toBe('shell');
    const table = await cli(['approvals']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+FOR\s+RULE\s+TOOL\s+AGE\s+EXPIRES$/);
    expect(table.stdout).toContain(pending.approvalId);

    const denied = await cli(['approve', pending.approvalId, '--deny', '--message', 'not now']);
    expect(denied.code).toBe(0);
    expect(denied.stdout).toBe(`approval ${pending.approvalId}: denied\n`);
    const followed = await cli(['follow', s.id]);
    expect(followed.stdout).toMatch(/✗ denied by user: not now/);
    expect(followed.stdout).not.toContain('    out-line'); // the command never ran

    const again = await cli(['approve', pending.approvalId]);
    expect(again.code).toBe(1); // no longer pending
    expect(again.stderr).toMatch(/not_found/);
  });

  it('usage errors exit 2; request failures exit 1 with the reason', async () => {
    const missing = await cli(['submit', '--type', 'custom']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--instructions <text>' not specified");
    const badType = await cli(['submit', '--type', 'nope', '--instructions', 'x']);
    expect(badType.code).toBe(2);
    expect(badType.stderr).toContain('--type must be one of');
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli(['workflows', '--status', 'weird'])).code).toBe(2);

    const wrongKey = await cli(['workflows'], { AGENT_SERVER_KEY: 'wrong' });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/unauthorized, HTTP 401/);
    const wrongKeyJson = await cli(['--json', 'workflows'], { AGENT_SERVER_KEY: 'wrong' });
    expect(JSON.parse(wrongKeyJson.stdout)).toMatchObject({ error: { code: 'unauthorized', status: 401 } });

    const notFound = await cli(['cancel', 'wf_missing']);
    expect(notFound.code).toBe(1);
    expect(notFound.stderr).toMatch(/not_found, HTTP 404/);

    // A loopback port nobody listens on any more: the connection is refused.
    const closed = await closedPort();
    const down = await cli(['sessions'], { AGENT_SERVER_URL: `http://127.0.0.1:${closed}` });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('ECONNREFUSED');
    expect(down.stderr).toContain(`(server http://127.0.0.1:${closed})`);
  });
});
