// Attacks on warm Claude Code spares (src/agent/claude-code/spares.ts), with the real sandbox:
// - a parked spare's proxy token is worth nothing: read from the spare's own environment before any
//   run claims it, the proxy refuses it;
// - a claimed spare's commands see only their own workspace and home: not another spare's slot, not
//   another session's workspace or home, not DATA_DIR or the server's state records, and not the
//   other spares' processes (their environment holds their tokens) through /proc;
// - its token works while its run lives (the proxy forwards it) and is refused once the run ended;
// - on a root server every slot has its own uid, and the run is that uid.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  claudeCodeSideReply,
  isClaudeCodeSideRequest,
  type MockLlm,
  textReply,
  toolCall,
  toolUseCount,
} from '../../src/mock-llm/index.ts';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { type TestEvent, waitForRunEnd } from '../helpers/events.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { api, json, type TestServer, waitFor } from '../helpers/server.ts';

const KEY = 'sk-ant-spare-attack-real-key';
const SPARES = 3;

/** Each parked spare's slot, token and proxy URL, read from its CLI process's environment. */
function parkedSpares(dataDir: string): Map<string, { token: string; baseUrl: string }> {
  const out = new Map<string, { token: string; baseUrl: string }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let env: string[];
    try {
      env = readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const get = (k: string) => env.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1);
    const config = get('CLAUDE_CONFIG_DIR');
    const token = get('ANTHROPIC_API_KEY');
    const baseUrl = get('ANTHROPIC_BASE_URL');
    const m = config && new RegExp(`^${dataDir}/homes/(spare-[0-9a-f]{24})/`).exec(config);
    if (m && token && baseUrl) out.set(m[1]!, { token, baseUrl });
  }
  return out;
}

/** A minimal Messages request with `token`, straight to the LLM proxy: its status and error type. */
async function proxyStatus(baseUrl: string, token: string): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': token, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({
      model: 'claude-sonnet-4-6',
      max_tokens: 8,
      messages: [{ role: 'user', content: 'hi' }],
    }),
  });
  const body = (await res.json().catch(() => ({}))) as { error?: { type?: string } };
  return `${res.status} ${body.error?.type ?? ''}`.trim();
}

const REFUSED = '401 authentication_error';

async function metric(server: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe.skipIf(!HAS_BWRAP)('warm Claude Code spares under attack (sandboxed)', () => {
  let mock: MockLlm;
  let server: TestServer;
  let script = 'true';
  beforeAll(async () => {
    ({ mock, server } = await startMockedServer(
      {
        responder: (req) => {
          if (isClaudeCodeSideRequest(req)) return claudeCodeSideReply(req);
          return toolUseCount(req) === 0
            ? toolCall('Bash', { command: script, description: 'probe' })
            : textReply('probed');
        },
        requireApiKey: KEY,
      },
      {
        ANTHROPIC_API_KEY: KEY,
        SANDBOX: 'bwrap',
        AGENT_ENGINE: 'claude-code',
        CLAUDE_SPARES: String(SPARES),
        CLAUDE_SPARES_READY: String(SPARES),
      },
    ));
  }, 60_000);
  afterAll(() => closeMockedServer(server, mock));

  const allReady = () =>
    waitFor(async () => {
      const n = await metric(server, 'agent_claude_spares{state="ready"}');
      return n === SPARES && parkedSpares(server.dataDir).size === SPARES ? true : undefined;
    }, 90_000);

  const runProbe = async (sessionId: string, command: string): Promise<TestEvent[]> => {
    script = command;
    await api(server.url, 'POST', `/api/sessions/${sessionId}/messages`, { content: 'probe' });
    const evs = await waitForRunEnd(server.url, sessionId, 90_000);
    expect(evs.at(-1)?.type, JSON.stringify(evs.at(-1)?.data)).toBe('run.completed');
    return evs;
  };
  const output = (evs: TestEvent[]) =>
    String(evs.findLast((e) => e.type === 'tool.completed')?.data.output ?? '');

  it('tokens are refused while parked, work only while their run lives, and each run sees its own slot only', async () => {
    // Session B (another tenant) leaves secrets in its workspace and home.
    await allReady();
    const b = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    await runProbe(b.id, 'echo SECRET-B > secret.txt && echo SECRET-B-HOME > "$HOME/secret.txt" && pwd');

    await allReady();
    const before = parkedSpares(server.dataDir);
    expect(before.size).toBe(SPARES);
    // 1. Parked: every spare's token is refused by the proxy exactly as an unknown one is, and
    // nothing reaches the model.
    const proxy = [...before.values()][0]!.baseUrl;
    expect(await proxyStatus(proxy, 'run-not-a-token-at-all')).toBe(REFUSED);
    const modelCalls = () => mock.requests.filter((r) => r.path === '/v1/messages').length;
    const callsBefore = modelCalls();
    for (const { token, baseUrl } of before.values()) expect(await proxyStatus(baseUrl, token)).toBe(REFUSED);
    expect(modelCalls()).toBe(callsBefore);

    const bDirs = readdirSync(path.join(server.dataDir, 'state', b.id));
    expect(bDirs).toContain('placement');
    const bSlot = readFileSync(path.join(server.dataDir, 'state', b.id, 'placement'), 'utf8').trim();
    const bWs = path.join(server.dataDir, 'workspaces', bSlot);
    const bHome = path.join(server.dataDir, 'homes', bSlot);
    expect(readFileSync(path.join(bWs, 'secret.txt'), 'utf8')).toContain('SECRET-B');

    // 2. Session A's run claims a spare; its commands look around.
    const a = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    const others = [...before.keys()];
    const targets = [
      ...others.flatMap((slot) => [
        path.join(server.dataDir, 'workspaces', slot),
        path.join(server.dataDir, 'homes', slot),
      ]),
      bWs,
      bHome,
      path.join(bWs, 'secret.txt'),
      path.join(bHome, 'secret.txt'),
      server.dataDir,
      path.join(server.dataDir, 'state'),
      path.join(server.dataDir, 'agent.db'),
    ];
    // Every process the run can see through /proc (minus the probe's own shells, whose command line
    // names the paths tried above): command lines and environments, into a file of its workspace.
    const procDump = [
      'for p in /proc/[0-9]*; do',
      `c=$(tr '\\0' ' ' < "$p/cmdline" 2>/dev/null); case "$c" in *PROBE-MARK*) continue;; esac;`,
      `echo "PID $p"; printf '%s\\n' "$c"; tr '\\0' '\\n' < "$p/environ" 2>/dev/null;`,
      'done > procdump.txt',
    ].join(' ');
    const probe = [
      'echo PROBE-MARK >/dev/null',
      'echo "UID=$(id -u)"',
      'echo "TOKEN=$ANTHROPIC_API_KEY"',
      'echo "PWD=$(pwd)"',
      'echo "HOME=$HOME"',
      ...targets.map((t) => `ls -a '${t}' >/dev/null 2>&1 && echo "SEEN ${t}" || echo "HIDDEN ${t}"`),
      `cat '${path.join(bWs, 'secret.txt')}' '${path.join(bHome, 'secret.txt')}' 2>&1 | head -2`,
      // The run's own token, used directly while the run lives: the proxy forwards it.
      // (node:http rather than fetch: undici's WebAssembly parser does not start under the
      // unprivileged sandbox's address-space limit.)
      `node -e "const r=require('http').request('${proxy}/v1/messages',{method:'POST',headers:{'content-type':'application/json','x-api-key':process.env.ANTHROPIC_API_KEY,'anthropic-version':'2023-06-01'}},(res)=>{console.log('DURING='+res.statusCode);res.resume()});r.on('error',(e)=>console.log('DURING=ERR '+e.message));r.end(JSON.stringify({model:'claude-sonnet-4-6',max_tokens:8,messages:[{role:'user',content:'hi'}]}))"`,
      procDump,
    ].join('; ');
    const evs = await runProbe(a.id, probe);
    const out = output(evs);

    const aSlot = readFileSync(path.join(server.dataDir, 'state', a.id, 'placement'), 'utf8').trim();
    expect(others).toContain(aSlot); // A was served by one of the spares seen parked
    const aWs = path.join(server.dataDir, 'workspaces', aSlot);
    expect(out).toContain(`PWD=${aWs}`);
    expect(out).toContain(`HOME=${path.join(server.dataDir, 'homes', aSlot)}`);
    // Its own slot is visible; the others', session B's, DATA_DIR and the state records are not.
    for (const t of targets) {
      const own =
        t === path.join(server.dataDir, 'workspaces', aSlot) ||
        t === path.join(server.dataDir, 'homes', aSlot);
      const ancestorOfOwn = aWs.startsWith(`${t}/`);
      if (own) expect(out).toContain(`SEEN ${t}`);
      else if (!ancestorOfOwn) expect(out, t).toContain(`HIDDEN ${t}`);
    }
    expect(out).not.toContain('SECRET-B');
    expect(out).not.toContain(KEY);

    // 3. The token the run had is the one its spare held while parked (refused then), it worked
    // during the run, and it is refused now that the run has ended.
    const token = /TOKEN=(\S+)/.exec(out)?.[1];
    expect(token).toBe(before.get(aSlot)?.token);
    expect(/DURING=.*/.exec(out)?.[0]).toBe('DURING=200');
    const callsAfter = modelCalls();
    expect(await proxyStatus(proxy, token!)).toBe(REFUSED);
    // The spares still parked stay refused.
    for (const [slot, { token: t, baseUrl }] of before) {
      if (slot !== aSlot) expect(await proxyStatus(baseUrl, t)).toBe(REFUSED);
    }
    expect(modelCalls()).toBe(callsAfter);

    // 4. /proc inside the sandbox shows the run's own processes only: its own CLI (its slot is in
    // the dump, so the dump did read environments), never another spare's slot or token.
    const dump = readFileSync(path.join(aWs, 'procdump.txt'), 'utf8');
    expect(dump).toContain(`homes/${aSlot}/`);
    expect(dump).toContain(`ANTHROPIC_API_KEY=${token}`);
    for (const [slot, { token: t }] of before) {
      if (slot === aSlot) continue;
      expect(dump).not.toContain(slot);
      expect(dump).not.toContain(t);
    }
    expect(dump).not.toContain(bSlot);
    expect(dump).not.toContain(KEY);

    // 5. Root server: each slot is its own uid; the run ran as its slot's.
    if (process.getuid?.() === 0) {
      const uid = Number(/UID=(\d+)/.exec(out)?.[1]);
      expect(uid).toBe(statSync(aWs).uid);
      const uids = [...others.map((s) => path.join(server.dataDir, 'workspaces', s)), bWs]
        .filter((p) => p !== aWs)
        .map((p) => statSync(p).uid);
      expect(uids).not.toContain(uid);
      expect(uid).toBeGreaterThan(0);
    }
  }, 240_000);
});
