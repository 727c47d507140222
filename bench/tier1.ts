// `node bench/tier1.ts [--messages N]`: what Tier 1 pays, on this machine.
// - Bundle sizes (esbuild, as wrangler bundles: ESM, minified, then gzip -9) of @duyetbot/tier1 as a
//   whole, of its parts a Worker may import alone, and of the example Worker.
// - CPU per call inside a Worker's budget: shouldEscalate on the labelled messages, signing a request,
//   verifying a callback (Node's Web Crypto here; workerd's is the same BoringSSL).
// - The example Worker in workerd against the real server: Telegram webhook latency (update in →
//   workflow submitted, linked, "Started …" sent → 200), and update → PR link in the chat.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import {
  MemoryNonceStore,
  shouldEscalate,
  signedCallbackHeaders,
  signedRequestHeaders,
  verifyCallback,
} from '@duyetbot/tier1';
import { REPO_ROOT } from '../test/architecture/source.ts';
import { alice, startChain, TG_HOOK_SECRET } from '../test/tier1/e2e-harness.ts';
import { bundle, WORKER_DIR } from '../test/tier1/worker-harness.ts';
import { fmtMs, percentile } from './lib/stats.ts';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '20' } } });
const MESSAGES = Number(values.messages);

const PKG = path.join(REPO_ROOT, 'packages', 'tier1', 'src');

async function sizeOf(label: string, source: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tier1-bench-'));
  try {
    const entry = path.join(dir, 'entry.ts');
    await writeFile(entry, source);
    const min = Buffer.from(await bundle(entry, { minify: true }));
    return `| ${label} | ${(min.length / 1024).toFixed(1)} KiB | ${(gzipSync(min, { level: 9 }).length / 1024).toFixed(1)} KiB |`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function perCall(fn: () => unknown | Promise<unknown>) {
  return async (n: number): Promise<number> => {
    for (let i = 0; i < Math.min(50, n); i++) await fn();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await fn();
    return ((performance.now() - t0) * 1000) / n;
  };
}

const SAMPLE = [
  'hi',
  'what is a closure in JavaScript?',
  'fix the failing test in owner/repo',
  'research the best approach to rate limiting in distributed systems and write a report',
  '1. clone acme/app\n2. upgrade react to 19\n3. fix the type errors\n4. open a PR',
  `Design the architecture for a multi-tenant billing system. ${'First the data model, then the API. '.repeat(20)}`,
];

async function main() {
  console.log(
    `## Tier 1 (${os.cpus().length} CPUs, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}, node ${process.version})\n`,
  );
  console.log('| bundle (esbuild, ESM, minified) | size | gzip -9 |\n|---|---|---|');
  const p = (f: string) => JSON.stringify(path.join(PKG, f));
  console.log(await sizeOf('@duyetbot/tier1, everything', `export * from ${p('index.ts')};`));
  console.log(await sizeOf('client only (AgentClient)', `export { AgentClient } from ${p('client.ts')};`));
  console.log(
    await sizeOf(
      'callbacks only (verifyCallback, handleCallback)',
      `export { verifyCallback, handleCallback } from ${p('callbacks.ts')};`,
    ),
  );
  console.log(await sizeOf('shouldEscalate only', `export { shouldEscalate } from ${p('escalate.ts')};`));
  const worker = JSON.stringify(path.join(WORKER_DIR, 'src', 'index.ts'));
  console.log(
    await sizeOf(
      'the example Worker (examples/tier1-worker), all included',
      `export { default } from ${worker};\nexport * from ${worker};`,
    ),
  );

  const body = JSON.stringify({ id: 'wf_1', status: 'completed', result: { summary: 'x'.repeat(2000) } });
  const url = 'https://bot.example.com/callback';
  let k = 0;
  const rows: Array<[string, number]> = [
    [
      'shouldEscalate (mix of 6 messages, per message)',
      await perCall(() => shouldEscalate(SAMPLE[k++ % SAMPLE.length]!))(6_000),
    ],
    [
      'sign a request (2 KiB body)',
      await perCall(() => signedRequestHeaders('secret', 'POST', url, body))(2_000),
    ],
  ];
  const headers = await signedCallbackHeaders('secret', url, body);
  const nonces = new MemoryNonceStore();
  let n = 0;
  rows.push([
    'verify a callback (2 KiB body, nonce store)',
    await perCall(() => {
      const h = {
        ...headers,
        'X-Nonce': `${headers['X-Nonce'].slice(0, 12)}${(n++).toString(36).padStart(10, '0')}`,
      };
      return verifyCallback(new Request(url, { method: 'POST', headers: h, body }), {
        secret: 'secret',
        nonces,
      });
    })(2_000),
  ]);
  console.log('\n| CPU per call | µs |\n|---|---|');
  for (const [label, us] of rows) console.log(`| ${label} | ${us.toFixed(1)} |`);

  const chain = await startChain({ repos: ['acme/widgets'] });
  try {
    const webhook: number[] = [];
    const toResult: number[] = [];
    const sent = new Map<number, number>();
    for (let i = 0; i < MESSAGES; i++) {
      const user = { ...alice, id: alice.id };
      const update = chain.tg.userMessage(user, `fix the failing test in acme/widgets (run ${i})`);
      const t0 = performance.now();
      const res = await chain.tg.deliver(`${chain.worker.url}/telegram`, TG_HOOK_SECRET, update);
      webhook.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`webhook ${res.status}`);
      sent.set((update.message as { message_id: number }).message_id, t0);
    }
    // Every run after the first fails to open its PR (one PR per branch): the result still comes back.
    const end = Date.now() + 300_000;
    while (toResult.length < MESSAGES && Date.now() < end) {
      for (const m of chain.tg.botMessages(alice.id)) {
        const t0 = m.reply_to_message_id === undefined ? undefined : sent.get(m.reply_to_message_id);
        if (t0 !== undefined && /Task \S+ (completed|failed)/.test(m.text)) {
          toResult.push(performance.now() - t0);
          sent.delete(m.reply_to_message_id!);
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const s = (xs: number[]) =>
      `p50 ${fmtMs(percentile(xs, 50))}, p95 ${fmtMs(percentile(xs, 95))}, max ${fmtMs(Math.max(...xs))}`;
    console.log(`\n| example Worker in workerd, ${MESSAGES} Telegram messages in a row | |\n|---|---|`);
    console.log(`| webhook: update → submitted, linked, "Started …" sent → 200 | ${s(webhook)} |`);
    console.log(
      `| update → result message in the chat (all ${MESSAGES} queued at once; scripted agent, 8 model turns, clone/commit/push) | ${s(toResult)} (${toResult.length}/${MESSAGES}) |`,
    );
  } finally {
    await chain.close();
  }
}

await main();
