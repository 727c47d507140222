// A throwaway redis-server for tests: started on a random free 127.0.0.1 port with persistence
// off (`--save '' --appendonly no`), ready once it answers PING. `stop()` kills it (tests use it
// for an outage) and `start()` brings it back on the same port; `close()` ends it for good.
// With REDIS_TEST_URL set, that server is used instead (nothing is started; no outage control).
//
// The binary is looked up in REDIS_SERVER_BIN, $PATH, /usr/bin, /usr/local/bin, /usr/sbin.
// Without it, starting FAILS with REDIS_MISSING_MESSAGE — set SKIP_REDIS_TESTS=1 to skip explicitly.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, pollUntil } from './net.ts';

export const skipRedisTests = process.env.SKIP_REDIS_TESTS === '1';

export const REDIS_MISSING_MESSAGE =
  'redis-server not found. Install it (Debian/Ubuntu: `apt-get install -y redis-server`), set ' +
  'REDIS_SERVER_BIN to the binary, REDIS_TEST_URL to a running server, or SKIP_REDIS_TESTS=1 to skip ' +
  'the multi-instance tests explicitly.';

export function findRedisServer(): string | undefined {
  if (process.env.REDIS_SERVER_BIN)
    return existsSync(process.env.REDIS_SERVER_BIN) ? process.env.REDIS_SERVER_BIN : undefined;
  const dirs = [
    ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean),
    '/usr/bin',
    '/usr/local/bin',
    '/usr/sbin',
  ];
  return dirs.map((d) => path.join(d, 'redis-server')).find((p) => existsSync(p));
}

export interface TestRedis {
  url: string;
  port: number;
  /** Whether outages can be simulated (false with REDIS_TEST_URL). */
  controllable: boolean;
  /** Kills the server (SIGKILL: an outage, connections drop without goodbye). */
  stop(): Promise<void>;
  /** Starts it again on the same port; resolves once it answers PING. */
  start(): Promise<void>;
  close(): Promise<void>;
  output(): string;
}

/** Sends PING over a raw socket; resolves true on +PONG. */
export function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

export async function startRedis(): Promise<TestRedis> {
  if (process.env.REDIS_TEST_URL) {
    const url = process.env.REDIS_TEST_URL;
    const noop = async () => {};
    const unsupported = async () => {
      throw new Error('REDIS_TEST_URL is set: outages cannot be simulated');
    };
    return {
      url,
      port: Number(new URL(url).port || 6379),
      controllable: false,
      stop: unsupported,
      start: unsupported,
      close: noop,
      output: () => '',
    };
  }
  const bin = findRedisServer();
  if (!bin) throw new Error(REDIS_MISSING_MESSAGE);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'redistest-'));
  let port = 0;
  let child: ChildProcess | undefined;
  let out = '';

  const launch = async (): Promise<void> => {
    const c = spawn(
      bin,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child = c;
    let exited = false;
    c.on('exit', () => {
      exited = true;
    });
    c.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    c.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await pollUntil(
      async () => {
        if (await ping(port)) return true;
        if (exited) throw new Error(`redis-server exited during start:\n${out.slice(-2000)}`);
        return false;
      },
      10_000,
      () => {
        c.kill('SIGKILL');
        return new Error(`redis-server did not answer PING within 10 s:\n${out.slice(-2000)}`);
      },
    );
  };

  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((r) => {
      c.once('exit', () => r());
      c.kill('SIGKILL');
    });
  };
  const onExit = () => child?.kill('SIGKILL');
  process.once('exit', onExit);

  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    port = await freePort();
    try {
      await launch();
      lastError = undefined;
      break;
    } catch (err) {
      lastError = err; // most likely the port was taken meanwhile: try another
      await kill();
    }
  }
  if (lastError) {
    await rm(dir, { recursive: true, force: true });
    throw lastError;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    controllable: true,
    stop: kill,
    start: launch,
    close: async () => {
      process.removeListener('exit', onExit);
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
    output: () => out,
  };
}
