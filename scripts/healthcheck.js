// Container health check (Dockerfile HEALTHCHECK): exit 0 when the server is READY — database
// reachable, data disk not full, sandbox working, not draining (GET /health/ready) — else exit 1
// and print what fails (Docker keeps the output in `docker inspect`). `--live` probes
// /health/live instead (the process answers). Which probe belongs where: docs/deployment.md.
// Plain JavaScript without dependencies: it runs in the image as `node scripts/healthcheck.js`.
const live = process.argv.includes('--live');
const port = process.env.PORT || '3003';
const bind = (process.env.HOST || '127.0.0.1').replace(/^\[|\]$/g, '');
// A wildcard bind answers on loopback; a specific address only on itself.
const host = bind === '0.0.0.0' || bind === '' ? '127.0.0.1' : bind === '::' ? '::1' : bind;
const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/health/${live ? 'live' : 'ready'}`;

function failing(body) {
  try {
    const checks = JSON.parse(body).checks ?? {};
    return Object.entries(checks)
      .filter(([, c]) => c && c.status !== 'ok')
      .map(([name, c]) => `${name}${c.error ? `: ${c.error}` : ''}`)
      .join('; ');
  } catch {
    return body.slice(0, 300);
  }
}

fetch(url, { signal: AbortSignal.timeout(4000) }).then(
  async (r) => {
    const body = await r.text();
    if (r.ok) {
      process.stdout.write(`${live ? 'live' : 'ready'}\n`);
      process.exit(0);
    }
    process.stdout.write(
      `not ${live ? 'live' : 'ready'} (HTTP ${r.status}): ${failing(body) || 'no detail'}\n`,
    );
    process.exit(1);
  },
  (err) => {
    process.stdout.write(`no answer from ${url}: ${err?.cause?.code ?? err?.message ?? err}\n`);
    process.exit(1);
  },
);
