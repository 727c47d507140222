// What the observability stack costs on the streaming benchmark (issue 12: ≤ 5 %): the same
// streaming run (bench/core/streaming.ts: N sessions streaming text deltas through the server to
// WebSocket clients) against the server BEFORE it (a checkout of the base commit) and this one,
// alternating rounds so machine noise hits both alike. Reported per configuration: the server's
// CPU time per delivered delta (the cost that scales) and the added delay p50/p99.
//
//   node bench/observability-overhead.ts --base /tmp/obs-base [--sessions 100] [--ms 10000] [--rounds 3]
//
// --base: a directory with the base commit's tree (`git archive <commit> | tar -x -C DIR`, plus a
// node_modules symlink). Configurations: base (LOG_LEVEL=error, as the benchmark runs), obs
// (the same), obs with LOG_LEVEL=info (request and state-change lines written to stderr), obs with
// tracing on (OTLP/HTTP protobuf to a sink on loopback that answers 200 and counts bytes).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { StreamingResult } from './core/streaming.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    sessions: { type: 'string', default: '100' },
    ms: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
  },
});
if (!values.base) {
  console.error(
    'usage: node bench/observability-overhead.ts --base DIR [--sessions N] [--ms MS] [--rounds R]',
  );
  process.exit(2);
}
const here = path.resolve(import.meta.dirname, '..');
const sessions = Number(values.sessions);
const ms = Number(values.ms);
const rounds = Number(values.rounds);

// An OTLP sink: accepts every export, counts requests and bytes.
let sinkRequests = 0;
let sinkBytes = 0;
const sink = http.createServer((req, res) => {
  req.on('data', (c: Buffer) => {
    sinkBytes += c.length;
  });
  req.on('end', () => {
    sinkRequests++;
    res.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end();
  });
});
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;

interface Conf {
  name: string;
  root: string;
  env: Record<string, string>;
}
const all: Conf[] = [
  { name: 'base', root: path.resolve(values.base), env: {} },
  { name: 'obs', root: here, env: {} },
  { name: 'obs+info-logs', root: here, env: { LOG_LEVEL: 'info' } },
  { name: 'obs+tracing', root: here, env: { OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl } },
];
const confs = all.filter((c) => !values.only || values.only.split(',').includes(c.name));

type Run = StreamingResult & { cpuMsPerKDelta: number };
const results = new Map<string, Run[]>();
for (let r = 1; r <= rounds; r++) {
  for (const c of confs) {
    const mod = (await import(path.join(c.root, 'bench/core/streaming.ts'))) as {
      benchStreaming: (
        n: number,
        o: { intervalMs: number; durationMs: number; perConn: number; log: (s: string) => void },
      ) => Promise<StreamingResult>;
    };
    process.env.BENCH_SERVER_ENV = JSON.stringify(c.env);
    const s = await mod.benchStreaming(sessions, {
      intervalMs: 50,
      durationMs: ms,
      perConn: 50,
      log: () => {},
    });
    const cpuMs = (s.serverCpuPct / 100) * s.durationMs;
    const run: Run = { ...s, cpuMsPerKDelta: (1000 * cpuMs) / Math.max(1, s.received) };
    results.set(c.name, [...(results.get(c.name) ?? []), run]);
    console.log(
      `round ${r} ${c.name.padEnd(14)} cpu ${s.serverCpuPct.toFixed(1)}% · ${run.cpuMsPerKDelta.toFixed(1)} ms/1000 deltas · delay p50 ${s.p50.toFixed(2)} ms p99 ${s.p99.toFixed(2)} ms · received ${s.received} · load ${s.loadAvg.toFixed(2)} · failed ${s.failedRuns}`,
    );
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? Number.NaN;
const base = median((results.get('base') ?? []).map((x) => x.cpuMsPerKDelta));
console.log(`\nmedians over ${rounds} rounds, ${sessions} sessions × ${ms} ms:`);
for (const [name, runs] of results) {
  const cpu = median(runs.map((x) => x.cpuMsPerKDelta));
  console.log(
    `${name.padEnd(14)} ${cpu.toFixed(1)} ms CPU / 1000 deltas (${base > 0 ? `${(((cpu - base) / base) * 100).toFixed(1)} % vs base` : '-'}) · p50 ${median(runs.map((x) => x.p50)).toFixed(2)} ms · p99 ${median(runs.map((x) => x.p99)).toFixed(2)} ms`,
  );
}
console.log(`OTLP sink: ${sinkRequests} exports, ${sinkBytes} bytes`);
sink.close();
process.exit(0);
