# syntax=docker/dockerfile:1.7
# duyetbot agent server — multi-stage build, non-root runtime, health check.

# ---- deps: production node_modules only ---------------------------------------------------
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------
FROM node:24-bookworm-slim AS runtime
# git: the agent's git tool; bubblewrap: the sandbox for every process the agent starts;
# openssh-client: ssh remotes; ca-certificates: https remotes and the Anthropic API.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git bubblewrap openssh-client ca-certificates util-linux tini \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 agent \
 && useradd --system --uid 10001 --gid agent --home-dir /home/agent --create-home --shell /usr/sbin/nologin agent \
 && mkdir -p /data \
 && chown agent:agent /data \
 && chmod 0700 /data
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json ./
COPY --chown=root:root src ./src
COPY --chown=root:root scripts ./scripts
COPY --chown=root:root ui ./ui
COPY --chown=root:root package-lock.json ./

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3003 \
    DATA_DIR=/data \
    NODE_COMPILE_CACHE=/app/.compile-cache
# The dashboard bundle (dist/ui/<hash>) is built here: /app is read-only to the server at run time.
RUN node scripts/build-ui.ts
# Prime Node's compile cache at build so even the first start skips compiling the server's modules.
RUN node -e "import('./src/runtime.ts').then(() => import('./src/agent/native/engine.ts')).then(() => process.exit(0))" \
 && chmod -R a+rX /app/.compile-cache
VOLUME ["/data"]
EXPOSE 3003
# No USER line on purpose: scripts/docker-entrypoint.sh starts as root only to hand a root-owned
# volume (Fly.io, Railway, bind mounts) to the agent user, then drops to uid 10001 for good. Started
# as another user (Kubernetes runAsUser 10001), it runs the server as that user directly.
# Readiness, not liveness: "healthy" means the database answers, the disk has room, the sandbox
# works and the server is not draining (docs/deployment.md, "Health checks").
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["node", "scripts/healthcheck.js"]
# tini reaps zombies and forwards SIGTERM so the server can drain (CONTRACT §1).
ENTRYPOINT ["/usr/bin/tini", "--", "/app/scripts/docker-entrypoint.sh"]
CMD ["node", "src/main.ts"]
