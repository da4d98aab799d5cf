#!/usr/bin/env bash
# The host-mode action's install step (setup/action.yml): ci-deploy from this checkout of the
# action (the release the workflow's `uses:` pinned) into a virtualenv on the runner, with the
# dependencies of requirements.lock by hash; reused when the same release was installed before
# (the runner's tool cache persists on self-hosted runners; on hosted ones see docs/ci.md).
# Prints the ci-deploy path; puts its folder on GITHUB_PATH; writes the step outputs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${CI_DEPLOY_PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || { echo "::error::ci-deploy setup needs python3 (3.10 or later) on the runner"; exit 2; }
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "::error::ci-deploy needs Python 3.10 or later; the runner has $("$PYTHON" -V 2>&1) (use actions/setup-python first)"; exit 2; }
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml" | head -1)"
# The release is identified by what gets installed: the lock, the package's sources, the Python.
key="$( { cat "$ROOT/requirements.lock" "$ROOT/pyproject.toml"; find "$ROOT/src" "$ROOT/templates" -type f -not -name '*.pyc' -print0 | sort -z | xargs -0 cat; "$PYTHON" -V; } | sha256sum | cut -c1-12)"
home="${RUNNER_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}}/ci-deploy/$version-$key"
started=$SECONDS
if [ -f "$home/.installed" ] && "$home/bin/ci-deploy" --version >/dev/null 2>&1; then
  echo "ci-deploy $version: cached in $home"
  cached=true
else
  rm -rf "$home"
  "$PYTHON" -m venv "$home"
  "$home/bin/pip" install --quiet --disable-pip-version-check --require-hashes \
    -r "$ROOT/requirements.lock"
  # the build backend pinned by hash too (build-requirements.lock), not whatever the index has
  "$home/bin/pip" install --quiet --disable-pip-version-check --require-hashes \
    -r "$ROOT/build-requirements.lock"
  "$home/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
    "$ROOT"
  touch "$home/.installed"  # only a complete install is reused
  echo "ci-deploy $version: installed in $home in $((SECONDS - started))s"
  cached=false
fi
echo "$home/bin" >>"${GITHUB_PATH:-/dev/null}"
{
  echo "path=$home/bin/ci-deploy"
  echo "python=$home/bin/python"
  echo "version=$version"
  echo "cached=$cached"
} >>"${GITHUB_OUTPUT:-/dev/null}"
