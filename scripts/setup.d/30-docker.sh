# shellcheck shell=bash
# Docker engine (docker.io 20.10, storage driver vfs: no overlayfs in this kind of machine).
# Sourced by scripts/test. Starts dockerd only when no engine answers, registers its PID so the
# EXIT trap stops it, and exports CI_DEPLOY_DOCKER_READY=1 for the e2e tests.
apt_install docker.io iptables

if ! docker info >/dev/null 2>&1; then
  DOCKERD_LOG="${TMPDIR:-/tmp}/ci-deploy-dockerd.log"
  dockerd --storage-driver=vfs >"$DOCKERD_LOG" 2>&1 &
  DOCKERD_PID=$!
  register_pid "$DOCKERD_PID"
  echo "$DOCKERD_PID" >"${TMPDIR:-/tmp}/ci-deploy-dockerd.pid"
  for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    echo "dockerd did not come up; last lines of $DOCKERD_LOG:" >&2
    tail -n 20 "$DOCKERD_LOG" >&2 || true
    return 1
  fi
fi
export CI_DEPLOY_DOCKER_READY=1
