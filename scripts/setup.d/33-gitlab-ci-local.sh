# shellcheck shell=bash
# gitlab-ci-local (runs .gitlab-ci.yml pipelines locally) and rsync, which it needs for every
# job. Pinned to 4.73.0: 4.74+ need Node >= 22 (ENVIRONMENT.md §6).
apt_install rsync
GCL_VERSION=4.73.0
if [ "$("$TOOLS/node_modules/.bin/gitlab-ci-local" --version 2>/dev/null)" != "$GCL_VERSION" ]; then
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" "gitlab-ci-local@$GCL_VERSION" >/dev/null
fi
export CI_DEPLOY_GITLAB_CI_LOCAL="$TOOLS/node_modules/.bin/gitlab-ci-local"
"$CI_DEPLOY_GITLAB_CI_LOCAL" --version >/dev/null
