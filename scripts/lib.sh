# Helpers shared by scripts/test and scripts/setup.d/*.sh (sourced, not executed).

: "${VENV:=$ROOT/.venv}"
: "${TOOLS:=$ROOT/.tools}"        # npm tools, downloaded rootfs, caches (git-ignored)
export VENV TOOLS
mkdir -p "$TOOLS"
STARTED_PIDS=()

log() { printf '\n==> %s\n' "$*"; }

register_pid() { STARTED_PIDS+=("$1"); }

stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

APT_UPDATED=0
apt_install() {
  # apt_install PKG...  -- idempotent, retried (the dpkg lock can be held briefly)
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$APT_UPDATED" -eq 0 ]; then apt-get update -qq || true; APT_UPDATED=1; fi
  local i
  for i in 1 2 3; do
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
      --no-install-recommends "${missing[@]}" && return 0
    sleep 3
  done
  echo "apt-get install ${missing[*]} failed" >&2
  return 1
}

free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

ensure_venv() {
  local py=python3
  if [ ! -x "$VENV/bin/python" ]; then
    "$py" -m venv "$VENV"
    "$VENV/bin/pip" install -q -U pip
  fi
  "$VENV/bin/pip" install -q -e "$ROOT[test,sandbox]"
  export PATH="$VENV/bin:$PATH"
}
