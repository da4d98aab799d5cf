#!/usr/bin/env bash
# Build the ci-deploy image offline, the way CI and the end-to-end tests do (ENVIRONMENT.md §2):
# wheels are made on the host, the build runs with --network none.
#
#   scripts/build-image.sh TAG [TAG...]              e.g. scripts/build-image.sh ci-deploy:dev
#   scripts/build-image.sh --tools TAG [TAG...]      the `tools` target (+ Trivy and syft)
#
# The Docker CLI in the image is the host's Debian one (/usr/bin/docker, package docker.io);
# the scanners of --tools come from tools-requirements.lock's wheels.
#
# The build context is a temporary copy (the package, templates, lock, wheels), so the work tree
# stays clean. Dependency wheels are cached in $TOOLS/image-wheels: with an unchanged lock
# Docker reuses the dependency layer and only ci-deploy itself is reinstalled.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${VENV:=$ROOT/.venv}" "${TOOLS:=$ROOT/.tools}"
TARGET=runtime
if [ "${1:-}" = --tools ]; then TARGET=tools; shift; fi
[ "$#" -ge 1 ] || { echo "usage: $0 [--tools] TAG [TAG...]" >&2; exit 2; }
[ -x /usr/bin/docker ] || { echo "$0: needs Debian's Docker CLI at /usr/bin/docker (apt-get install docker.io)" >&2; exit 2; }

CTX="$(mktemp -d)"
trap 'rm -rf "$CTX"' EXIT
WHEELS="$TOOLS/image-wheels"
mkdir -p "$WHEELS"
"$VENV/bin/pip" wheel -q --disable-pip-version-check -w "$WHEELS" --require-hashes \
  -r "$ROOT/requirements.lock" 2>&1 | grep -v "^WARNING: Location" >&2 || true
# Keep exactly the locked wheels in the context (an older cached wheel would change the layer).
mkdir -p "$CTX/wheels" "$CTX/dist"
"$VENV/bin/python" - "$ROOT/requirements.lock" "$WHEELS" "$CTX/wheels" <<'PY'
import re, shutil, sys
from pathlib import Path
lock, src, dst = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
pins = {re.sub(r"[-_.]+", "_", m.group(1)).lower(): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^ \\\n]+)", lock.read_text(), re.M)}
for wheel in sorted(src.glob("*.whl")):
    name, version = wheel.name.split("-")[:2]
    if pins.get(re.sub(r"[-_.]+", "_", name).lower()) == version:
        shutil.copy2(wheel, dst / wheel.name)
PY
# A fixed SOURCE_DATE_EPOCH makes the wheel byte-identical for identical sources, so an
# unchanged tree rebuilds from Docker's cache.
# The wheel is built with the pinned backend (build-requirements.lock), not with whatever
# hatchling the index offers today.
BUILD_VENV="$TOOLS/build-backend"
[ -x "$BUILD_VENV/bin/pip" ] || python3 -m venv "$BUILD_VENV"
"$BUILD_VENV/bin/pip" install -q --disable-pip-version-check --require-hashes \
  -r "$ROOT/build-requirements.lock" 2>&1 | grep -v "^WARNING: Location" >&2 || true
SOURCE_DATE_EPOCH=315532800 \
  "$BUILD_VENV/bin/pip" wheel -q --disable-pip-version-check --no-deps --no-build-isolation \
  -w "$CTX/dist" "$ROOT" 2>&1 | grep -v "^WARNING: Location" >&2 || true
cp -r "$ROOT/Dockerfile" "$ROOT/.dockerignore" "$ROOT/pyproject.toml" "$ROOT/README.md" \
  "$ROOT/requirements.lock" "$ROOT/build-requirements.lock" "$ROOT/tools-requirements.lock" \
  "$ROOT/src" "$ROOT/templates" "$CTX/"
mkdir -p "$CTX/tools"
cp /usr/bin/docker "$CTX/tools/docker"
if [ "$TARGET" = tools ]; then
  SCANNER_WHEELS="$TOOLS/scanner-wheels"
  mkdir -p "$SCANNER_WHEELS"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -d "$SCANNER_WHEELS" -r "$ROOT/tools-requirements.lock" 2>&1 \
    | grep -v "^WARNING: Location" >&2 || true
  cp "$SCANNER_WHEELS"/*.whl "$CTX/tools/"
fi
tags=()
for tag in "$@"; do tags+=(-t "$tag"); done
# The build stage is tagged so that pruning keeps it: it is the layer cache of the next build.
docker build -q --network none --build-arg OFFLINE=true --target build \
  -t ci-deploy-build-stage:cache "$CTX" >/dev/null
docker build -q --network none --build-arg OFFLINE=true --target "$TARGET" "${tags[@]}" "$CTX" >/dev/null
# vfs keeps a full copy per layer: drop the dangling images earlier builds left behind.
docker image prune -f >/dev/null
docker image inspect --format '{{.Id}} {{.Size}}' "$1"
