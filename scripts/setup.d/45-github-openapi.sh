# shellcheck shell=bash
# GitHub's OpenAPI description (npm @octokit/openapi, ENVIRONMENT.md §11): the GitHub receiver of
# tests/notify validates every request our notifier sends against it. Pinned: the receiver's
# answers follow this version's response schemas. 385 MB unpacked, so it lives under $TOOLS and
# is installed once (skipped while the pinned version is there). Exports CI_DEPLOY_GITHUB_OPENAPI.
GITHUB_OPENAPI_VERSION=23.0.2
GITHUB_OPENAPI_DIR="$TOOLS/octokit/node_modules/@octokit/openapi"
CI_DEPLOY_GITHUB_OPENAPI="$GITHUB_OPENAPI_DIR/generated/api.github.com.json"
if [ ! -f "$CI_DEPLOY_GITHUB_OPENAPI" ] ||
  [ "$(node -p "require('$GITHUB_OPENAPI_DIR/package.json').version" 2>/dev/null)" != "$GITHUB_OPENAPI_VERSION" ]; then
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/octokit" \
    "@octokit/openapi@$GITHUB_OPENAPI_VERSION" >/dev/null
fi
if [ ! -f "$CI_DEPLOY_GITHUB_OPENAPI" ]; then
  echo "error: no $CI_DEPLOY_GITHUB_OPENAPI after 'npm install @octokit/openapi'" >&2
  return 1
fi
export CI_DEPLOY_GITHUB_OPENAPI
