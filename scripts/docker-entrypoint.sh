#!/bin/sh
# Container entry point (Dockerfile ENTRYPOINT, after tini). The server runs as the unprivileged
# `agent` user (uid/gid 10001), never as root: bubblewrap then sandboxes with user namespaces.
# - Started as root (Fly.io, Railway, `docker run -v /host/dir:/data`): volumes are often mounted
#   root-owned, so DATA_DIR is created and handed to the agent user, then privileges are dropped
#   for good (no capabilities, no way back) before the server starts.
# - Started as any other user (Kubernetes runAsUser, `docker run --user`): DATA_DIR must already be
#   writable (Kubernetes: fsGroup); if it is not, say so and stop instead of failing later.
set -eu
AGENT_UID=10001
AGENT_GID=10001
data="${DATA_DIR:-/data}"

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$data"
  if [ "$(stat -c %u:%g "$data")" != "$AGENT_UID:$AGENT_GID" ]; then
    chown "$AGENT_UID:$AGENT_GID" "$data"
  fi
  chmod 0700 "$data"
  export HOME=/home/agent USER=agent LOGNAME=agent
  exec setpriv --reuid="$AGENT_UID" --regid="$AGENT_GID" --clear-groups \
    --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"
fi

if ! mkdir -p "$data" 2>/dev/null || [ ! -w "$data" ]; then
  echo "DATA_DIR $data is not writable by uid $(id -u). Mount a volume this user may write" \
    "(Kubernetes: securityContext.fsGroup: $AGENT_GID; Docker: start as root and the entry point" \
    "hands it over, or chown $AGENT_UID:$AGENT_GID the host directory)." >&2
  exit 2
fi
exec "$@"
