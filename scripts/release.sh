#!/usr/bin/env bash
# Publish ci-deploy's image for a release and pin action.yml to it; .github/workflows/release.yml
# runs it on a tag vX.Y.Z (after the tests), and it runs the same on a workstation.
#
#   scripts/release.sh vX.Y.Z IMAGE        IMAGE without a tag, e.g. ghcr.io/owner/ci-deploy
#
# REPOSITORY (default $GITHUB_REPOSITORY): the GitHub repository users reference the action by,
# OWNER/NAME; GITLAB_PROJECT (optional): the GitLab project that mirrors it, GROUP/NAME.
#
# 0. writes src/ci_deploy/release.json (version, REPOSITORY, IMAGE, GITLAB_PROJECT): the
#    release that the CLI built from this commit is, which `render pipeline` writes into the
#    pipelines it renders; it goes into the image and the release commit;
# 1. builds the image: with `docker buildx` for $PLATFORMS (default linux/amd64,linux/arm64),
#    pushed by buildx; without buildx (or PLATFORMS=host) with scripts/build-image.sh for the
#    host's platform only, then pushed;
# 2. pushes the tags vX.Y.Z, vX.Y and vX (the major tag moves); the same for the tools target
#    (+ Trivy and syft: the GitLab build and scan jobs' image) as vX.Y.Z-tools, vX.Y-tools, vX-tools;
# 3. writes the SBOM of the pushed image (syft, SPDX JSON) to $OUT/sbom.spdx.json;
# 4. with SIGN=true, signs the digest with cosign (keyless: needs the OIDC token GitHub gives a
#    job with `id-token: write`, and the internet) and attests the SBOM; else says it did not;
# 5. rewrites action.yml's `image: Dockerfile` to docker://IMAGE:vX.Y.Z@sha256:…, and the image
#    the GitLab template's and component's jobs run in to IMAGE:vX.Y.Z@sha256:… (their build and
#    scan jobs': IMAGE:vX.Y.Z-tools@sha256:…), in a new commit on top of HEAD (with
#    release.json), and points the tags vX.Y.Z and vX at it (pushing them is the caller's).
# $OUT (default dist/release) also gets `image` and `tools-image`: the pinned references. The
# work tree must be clean and action.yml in its development form (a release is made from the
# default branch).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
die() { echo "release: $*" >&2; exit 2; }
[ "$#" -eq 2 ] || die "usage: scripts/release.sh vX.Y.Z IMAGE"
VERSION="$1" IMAGE="$2"
[[ "$VERSION" =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || die "version $VERSION is not vX.Y.Z"
MAJOR="v${BASH_REMATCH[1]}" MINOR="v${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
[[ "$IMAGE" =~ ^[a-z0-9.:-]+(/[a-z0-9._-]+)+$ ]] || die "image $IMAGE is not REGISTRY/NAME (no tag)"
PYTHON="${PYTHON:-python3}"
FORM="$("$PYTHON" scripts/pin_action_image.py --check action.yml)"
[ "$FORM" = development ] || die "action.yml already runs $FORM: release from the default branch"
git diff --quiet HEAD -- || die "the work tree has uncommitted changes"
REPOSITORY="${REPOSITORY:-${GITHUB_REPOSITORY:-}}"
[[ "$REPOSITORY" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] \
  || die "REPOSITORY is '$REPOSITORY': set it to the action's GitHub repository, OWNER/NAME"
GITLAB_PROJECT="${GITLAB_PROJECT:-}"
[ -z "$GITLAB_PROJECT" ] || [[ "$GITLAB_PROJECT" =~ ^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$ ]] \
  || die "GITLAB_PROJECT is '$GITLAB_PROJECT': expected GROUP/NAME (or unset)"
OUT="${OUT:-$ROOT/dist/release}"
mkdir -p "$OUT"
RELEASE_JSON=src/ci_deploy/release.json
"$PYTHON" - "$RELEASE_JSON" "$VERSION" "$REPOSITORY" "$IMAGE" "$GITLAB_PROJECT" <<'PY'
import json, sys
path, version, action, image, gitlab = sys.argv[1:]
release = {"version": version, "action": action, "image": image, "gitlab_project": gitlab or None}
with open(path, "w", encoding="utf-8") as out:
    out.write(json.dumps(release, indent=2) + "\n")
PY
echo "release: $RELEASE_JSON: $(tr -d '\n ' <"$RELEASE_JSON")"
PLATFORMS="${PLATFORMS:-linux/amd64,linux/arm64}"

# publish TARGET SUFFIX: build the Dockerfile's TARGET (runtime: the default image; tools:
# + Trivy and syft, for the GitLab build and scan jobs), push it as vX.Y.Z, vX.Y and vX (each
# with SUFFIX), and set PUBLISHED to its vX.Y.Z reference by digest.
publish() {
  local target="$1" suffix="$2" digest pushed
  local tags=("$IMAGE:$VERSION$suffix" "$IMAGE:$MINOR$suffix" "$IMAGE:$MAJOR$suffix")
  local step_started=$SECONDS
  if [ "$PLATFORMS" != host ] && docker buildx version >/dev/null 2>&1; then
    echo "release: building ${tags[0]} for $PLATFORMS with buildx"
    docker buildx build --platform "$PLATFORMS" --push --provenance=mode=max --target "$target" \
      --metadata-file "$OUT/buildx-$target.json" -t "${tags[0]}" -t "${tags[1]}" -t "${tags[2]}" .
    digest="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["containerimage.digest"])' "$OUT/buildx-$target.json")"
  else
    echo "release: no docker buildx (or PLATFORMS=host): building ${tags[0]} for this host's platform only"
    if [ "$target" = tools ]; then scripts/build-image.sh --tools "${tags[0]}"; else scripts/build-image.sh "${tags[0]}"; fi
    docker tag "${tags[0]}" "${tags[1]}"
    docker tag "${tags[0]}" "${tags[2]}"
    pushed="$(docker push "${tags[0]}")"
    echo "$pushed"
    digest="$(grep -o 'digest: sha256:[0-9a-f]\{64\}' <<<"$pushed" | tail -1 | cut -d' ' -f2)"
    docker push -q "${tags[1]}" >/dev/null
    docker push -q "${tags[2]}" >/dev/null
  fi
  [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "no digest from the push of ${tags[0]} (got '$digest')"
  PUBLISHED="${tags[0]}@$digest"
  echo "release: pushed $PUBLISHED (tags $VERSION$suffix, $MINOR$suffix, $MAJOR$suffix) in $((SECONDS - step_started))s"
}

publish runtime ""
REF="$PUBLISHED"
DIGEST="${REF##*@}"
publish tools "-tools"
TOOLS_REF="$PUBLISHED"

case "$IMAGE" in  # syft reads a registry on loopback over plain HTTP, as docker does
  127.0.0.1:*|localhost:*) export SYFT_REGISTRY_INSECURE_USE_HTTP=true ;;
esac
"${SYFT:-syft}" scan -q "registry:$IMAGE@$DIGEST" -o "spdx-json=$OUT/sbom.spdx.json"
echo "release: SBOM $OUT/sbom.spdx.json ($(wc -c <"$OUT/sbom.spdx.json") bytes)"

if [ "${SIGN:-false}" = true ]; then
  cosign sign --yes "$IMAGE@$DIGEST"
  cosign attest --yes --type spdxjson --predicate "$OUT/sbom.spdx.json" "$IMAGE@$DIGEST"
  cosign sign --yes "$IMAGE@${TOOLS_REF##*@}"
  echo "release: signed $IMAGE@$DIGEST (and the tools image) and attested its SBOM (cosign keyless)"
else
  echo "release: not signed (SIGN is not true)"
fi

PINNED=(action.yml .gitlab-ci-template.yml templates/ci-deploy/template.yml)
for file in "${PINNED[@]}"; do "$PYTHON" scripts/pin_action_image.py "$file" "$REF"; done
for file in "${PINNED[@]:1}"; do "$PYTHON" scripts/pin_action_image.py --tools "$file" "$TOOLS_REF"; done
git add -- "$RELEASE_JSON"
git -c user.name="ci-deploy release" -c user.email="release@ci-deploy.invalid" \
  commit -q -m "Release $VERSION: action.yml and the GitLab jobs run $REF" -- "${PINNED[@]}" "$RELEASE_JSON"
git tag -f "$VERSION" >/dev/null
git tag -f "$MAJOR" >/dev/null
echo "$REF" >"$OUT/image"
echo "$TOOLS_REF" >"$OUT/tools-image"
echo "release: $VERSION and $MAJOR point at $(git rev-parse --short HEAD), whose action.yml runs $REF"
