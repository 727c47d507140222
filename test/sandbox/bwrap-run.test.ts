// What must keep WORKING inside the sandbox: node (the server's own binary too), git, HOME and
// TMPDIR, a private /tmp, workspace paths identical to the host's, start-up self test.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.ts';
import { createSandbox, SandboxStartupError } from '../../src/sandbox/index.ts';
import { runProcess } from '../../src/sandbox/process-runner.ts';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { makeSecFixture, type SecFixture } from '../security/helpers.ts';

let fx: SecFixture;
beforeAll(async () => {
  if (HAS_BWRAP) fx = await makeSecFixture();
});
afterAll(() => fx?.cleanup());

describe.skipIf(!HAS_BWRAP)('inside the bwrap sandbox', () => {
  it('runs node test.js with the system node and with the server’s own node binary', async () => {
    writeFileSync(
      path.join(fx.workspace, 'test.js'),
      'console.log("sum", 1 + 2, require("node:os").userInfo().username)\n',
    );
    const r = await fx.bash(
      `node test.js && ${process.execPath} test.js && ${process.execPath} -e "console.log(process.version)"`,
    );
    expect(r.isError, r.output).toBe(false);
    expect(r.output).toMatch(/sum 3 \w+\nsum 3 \w+\nv\d+/);
  });

  it('has a writable HOME and TMPDIR, a private /tmp, and the workspace at its host path', async () => {
    const r = await fx.bash(
      'echo h > "$HOME/h" && echo t > "$TMPDIR/t" && echo x > /tmp/x && ls /tmp && pwd && git --version && id -un',
    );
    expect(r.isError, r.output).toBe(false);
    expect(r.output).toContain(fx.workspace);
    expect(readFileSync(path.join(fx.ctx.env.HOME ?? '', 'h'), 'utf8')).toBe('h\n');
    expect(existsSync('/tmp/x') && readFileSync('/tmp/x', 'utf8') === 'x\n').toBe(false);
    expect(r.output).toMatch(/git version/);
  });

  it('streams output and reports exit codes through the process runner', async () => {
    const chunks: string[] = [];
    const res = await runProcess(
      {
        command: 'sh',
        args: ['-c', 'echo out; echo err >&2; exit 3'],
        cwd: fx.workspace,
        workspace: fx.workspace,
        env: fx.ctx.env,
      },
      { sandbox: fx.sandbox, timeoutMs: 5000, outputLimit: 1000, onOutput: (_s, c) => chunks.push(c) },
    );
    expect(res.exitCode).toBe(3);
    expect(chunks.join('')).toContain('out');
    expect(res.output).toContain('err');
  });

  it('createSandbox: bwrap passes its self test; SANDBOX=none warns loudly', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', write: (l) => lines.push(l) });
    const sb = await createSandbox({ ...fx.config, sandbox: 'bwrap' }, logger);
    expect(sb.kind).toBe('bwrap');
    await (sb as { close?: () => Promise<void> }).close?.();
    const none = await createSandbox({ ...fx.config, sandbox: 'none' }, logger);
    expect(none.kind).toBe('none');
    expect(lines.join('')).toMatch(/SANDBOX=none: agent processes run WITHOUT an OS sandbox/);
  });

  it('createSandbox refuses to start when bwrap is missing or does not work', async () => {
    const logger = createLogger({ level: 'error', write: () => {} });
    for (const broken of ['/nonexistent/bwrap', '/bin/false']) {
      const err = await createSandbox({ ...fx.config, sandbox: 'bwrap', bwrapPath: broken }, logger).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, broken).toBeInstanceOf(SandboxStartupError);
      expect(String(err)).toMatch(/Install bubblewrap/);
      expect(String(err)).toMatch(/SANDBOX=none/);
    }
  });
  it('mirrors an allowed host loopback port (the LLM proxy) into network-enabled sandboxes, and nothing else', async () => {
    const served: string[] = [];
    const mk = async (body: string) => {
      const srv = net.createServer((c) => {
        served.push(body);
        c.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      });
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
      return { srv, port: (srv.address() as net.AddressInfo).port };
    };
    const llm = await mk('LLM-PROXY');
    const other = await mk('OTHER-SERVICE');
    const netFx = await makeSecFixture({ SANDBOX_NETWORK_ALLOW: 'example.org' });
    try {
      netFx.sandbox.allowLoopbackPort(llm.port);
      const r = await netFx.bash(
        `curl -fsS -m 3 http://127.0.0.1:${llm.port}/v1/messages; echo " rc=$?"; curl -fsS -m 3 http://127.0.0.1:${other.port}/ 2>&1; echo " rc=$?"; ` +
          `curl -fsS -m 3 --noproxy '' --proxytunnel -x "$HTTPS_PROXY" http://127.0.0.1:${other.port}/ 2>&1; echo " rc=$?"`,
      );
      expect(r.output).toMatch(/LLM-PROXY rc=0/);
      expect(r.output).not.toContain('OTHER-SERVICE');
      expect(served).toEqual(['LLM-PROXY']);
      // Without network the mirror does not exist either.
      const off = await fx.bash(`curl -fsS -m 3 http://127.0.0.1:${llm.port}/ 2>&1; echo " rc=$?"`);
      expect(off.output).not.toContain('LLM-PROXY');
    } finally {
      await netFx.cleanup();
      llm.srv.close();
      other.srv.close();
    }
  });
});
