// The dashboard's weight and the time to the first screen of a long run (issue 13):
//   node bench/ui.ts [--events 5000] [--runs 5]
//
// Page weight: the bundle's files as built (raw, gzip, brotli) and the bytes Chromium actually
// received on a cold first load of /ui/ (compressed transfer, headers excluded).
// First render: a session holding N stored events (a realistic mix: deltas, assistant turns, tool
// calls with streamed output) is opened in a fresh browser context (cold cache, key already in the
// tab's sessionStorage); measured from navigation start to the frame after the run view has applied
// every stored event and drawn its first screen (the log's `data-loaded="true"`), with the longest
// main-thread task in that time. Repeated `--runs` times, also with the CPU slowed 4× (a phone).
// Prints the figures; the lead copies them into BENCHMARKS.md.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/observability/logger.ts';
import type { NewEvent } from '../src/protocol/index.ts';
import { createRuntime } from '../src/runtime.ts';
import { median, percentile } from './lib/stats.ts';

const { values } = parseArgs({
  options: { events: { type: 'string', default: '5000' }, runs: { type: 'string', default: '5' } },
});
const N = Number(values.events);
const RUNS = Number(values.runs);
const KEY = 'bench-ui-key';

function chromiumPath(): string {
  for (const p of [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'])
    if (p) return p;
  throw new Error('install chromium (apt-get install chromium) or set CHROMIUM_PATH');
}

/** N events of one long run: its start, then turns of text and a tool call with output, then its end. */
function syntheticRun(n: number): NewEvent[] {
  const runId = 'run_bench';
  const out: NewEvent[] = [
    { type: 'message.user', runId, data: { text: 'Refactor the whole repository, file by file.' } },
    { type: 'run.queued', runId, data: { attempt: 1 } },
    { type: 'run.started', runId, data: { attempt: 1, engine: 'native', model: 'claude-sonnet-4-6' } },
  ];
  for (let turn = 0; out.length < n - 1; turn++) {
    const id = `toolu_${turn}`;
    const turnEvents: NewEvent[] = [
      { type: 'text.delta', runId, data: { text: `Now file ${turn}: ` } },
      { type: 'text.delta', runId, data: { text: 'I will read it, **change** the `API` ' } },
      { type: 'text.delta', runId, data: { text: 'and run the tests.' } },
      {
        type: 'message.assistant',
        runId,
        data: { text: `Now file ${turn}: I will read it, **change** the \`API\` and run the tests.` },
      },
      {
        type: 'tool.started',
        runId,
        data: { toolUseId: id, name: 'bash', input: { command: `npm test -- f${turn}` } },
      },
      ...[1, 2, 3, 4].map(
        (k): NewEvent => ({
          type: 'tool.output',
          runId,
          data: {
            toolUseId: id,
            stream: k === 4 ? 'stderr' : 'stdout',
            chunk: `\u001b[32m✓\u001b[0m test ${k} of f${turn}\n`,
          },
        }),
      ),
      {
        type: 'tool.completed',
        runId,
        data: {
          toolUseId: id,
          name: 'bash',
          isError: false,
          output: '4 passed\n[exit code 0]',
          durationMs: 812,
        },
      },
    ];
    out.push(...turnEvents.slice(0, n - 1 - out.length));
  }
  out.push({
    type: 'run.completed',
    runId,
    data: { stopReason: 'end_turn', usage: { inputTokens: 1_200_000, outputTokens: 90_000, costUsd: 4.95 } },
  });
  return out;
}

/** What INIT leaves on the page's global object. */
interface Marks {
  __paintedAt?: number;
  __loadedAt?: number;
  __longest?: number;
}

// Set before the app starts (the DevTools protocol, not a page script): notes when the log has
// applied everything and the frame after it, and the longest main-thread task so far.
const INIT = `
  window.__longest = 0;
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longest = Math.max(window.__longest, e.duration); })
    .observe({ type: 'longtask', buffered: true });
  new MutationObserver(() => {
    if (window.__loadedAt) return;
    const log = document.querySelector('[data-testid=log]');
    if (log && log.getAttribute('data-loaded') === 'true') {
      window.__loadedAt = performance.now();
      requestAnimationFrame(() => setTimeout(() => { window.__paintedAt = performance.now(); }, 0));
    }
  }).observe(document, { subtree: true, attributes: true, childList: true });
`;

async function main(): Promise<void> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-ui-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    API_KEYS: KEY,
    SANDBOX: 'none',
    AGENT_ENGINE: 'native',
    RATE_LIMIT_PER_MINUTE: '100000',
  });
  const runtime = await createRuntime(config, { logger: silentLogger });
  const { url } = await runtime.start();
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  try {
    // ---- page weight ------------------------------------------------------------------------
    const bundle = await runtime.dashboard!.bundle();
    let raw = 0;
    let gz = 0;
    let br = 0;
    for (const f of bundle.files) {
      if (f.endsWith('.LEGAL.txt')) continue; // never requested by the page
      const body = await fs.readFile(path.join(bundle.dir, f));
      raw += body.length;
      gz += gzipSync(body, { level: 9 }).length;
      br += brotliCompressSync(body).length;
    }
    const ctx0 = await browser.newContext();
    const p0 = await ctx0.newPage();
    const sizes: Array<Promise<number>> = [];
    p0.on('requestfinished', (r) => {
      if (new URL(r.url()).pathname.startsWith('/ui/')) sizes.push(r.sizes().then((z) => z.responseBodySize));
    });
    await p0.goto(`${url}/ui/`);
    await p0.getByLabel('API key').waitFor();
    await p0.waitForLoadState('networkidle');
    const transferred = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
    await ctx0.close();

    // ---- a run of N events --------------------------------------------------------------------
    const res = await fetch(`${url}/api/sessions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: `${N} events` }),
    });
    const { id } = (await res.json()) as { id: string };
    const events = syntheticRun(N);
    for (let i = 0; i < events.length; i += 500)
      await runtime.store.appendEvents(id, events.slice(i, i + 500));

    const measure = async (cpuSlowdown: number) => {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      await ctx.addInitScript(`sessionStorage.setItem('duyetbot.apiKey', ${JSON.stringify(KEY)});${INIT}`);
      const page = await ctx.newPage();
      if (cpuSlowdown > 1) {
        const cdp = await ctx.newCDPSession(page);
        await cdp.send('Emulation.setCPUThrottlingRate', { rate: cpuSlowdown });
      }
      await page.goto(`${url}/ui/#/sessions/${id}`);
      // Functions, not strings: a string would be eval'd in the page, which its CSP forbids.
      await page.waitForFunction(
        () => (globalThis as unknown as Marks).__paintedAt !== undefined,
        undefined,
        {
          timeout: 60_000,
        },
      );
      const r = (await page.evaluate(
        '({ painted: window.__paintedAt, loaded: window.__loadedAt, longest: window.__longest, last: document.querySelector("[data-testid=log]").getAttribute("data-last-seq"), items: document.querySelectorAll("[data-testid=log] > li").length })',
      )) as { painted: number; loaded: number; longest: number; last: string; items: number };
      if (Number(r.last) !== N) throw new Error(`the view shows seq ${r.last}, not ${N}`);
      if (process.env.BENCH_UI_TRACE)
        console.log(
          await page.evaluate(() =>
            [...performance.getEntriesByType('resource'), ...performance.getEntriesByType('mark')]
              .sort((a, b) => a.startTime - b.startTime)
              .map(
                (e) =>
                  `${e.name.replace(/^.*?\/\/[^/]+/, '')} ${e.startTime.toFixed(0)}→${((e as PerformanceResourceTiming).responseEnd ?? e.startTime).toFixed(0)}`,
              )
              .join('\n'),
          ),
          r,
        );
      await ctx.close();
      return r;
    };
    const report = (label: string, rs: Array<{ painted: number; longest: number; items: number }>) => {
      const t = rs.map((r) => r.painted);
      console.log(
        `${label}: first screen of ${N} events in median ${median(t).toFixed(0)} ms (max ${percentile(t, 100).toFixed(0)} ms, ` +
          `${RUNS} cold loads); longest main-thread task median ${median(rs.map((r) => r.longest)).toFixed(0)} ms; ` +
          `${rs[0]?.items} items in the DOM`,
      );
    };
    await measure(1); // warm the server's caches once
    const desktop: Awaited<ReturnType<typeof measure>>[] = [];
    for (let i = 0; i < RUNS; i++) desktop.push(await measure(1));
    const phone: Awaited<ReturnType<typeof measure>>[] = [];
    for (let i = 0; i < RUNS; i++) phone.push(await measure(4));

    console.log(
      `machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, load ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    console.log(
      `page weight: ${bundle.files.length} files, ${(raw / 1024).toFixed(1)} KiB raw, ${(gz / 1024).toFixed(1)} KiB gzip, ` +
        `${(br / 1024).toFixed(1)} KiB brotli; a cold load of /ui/ transferred ${(transferred / 1024).toFixed(1)} KiB`,
    );
    report('desktop', desktop);
    report('CPU 4× slower', phone);
  } finally {
    await browser.close();
    await runtime.shutdown(1_000);
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

await main();
