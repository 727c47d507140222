// Container health check: exit 0 when the server's liveness probe answers 200.
const port = process.env.PORT || 3003;
fetch(`http://127.0.0.1:${port}/health/live`, { signal: AbortSignal.timeout(4000) }).then(
  (r) => process.exit(r.ok ? 0 : 1),
  () => process.exit(1),
);
