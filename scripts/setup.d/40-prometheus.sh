# shellcheck shell=bash
# Prometheus (Debian 2.42, ENVIRONMENT.md §9) for the canary-analysis tests (tests/analysis),
# which start their own server per test module on a free loopback port and stop it by PID:
# nothing is started here. Without recommends: node-exporter and 30-odd more packages are not
# needed. Idempotent and quick once installed (a dpkg check). Exports CI_DEPLOY_PROMETHEUS (the
# binary the tests run) and CI_DEPLOY_PROMTOOL.
apt_install prometheus

CI_DEPLOY_PROMETHEUS="$(command -v prometheus || true)"
if [ -z "$CI_DEPLOY_PROMETHEUS" ] || ! "$CI_DEPLOY_PROMETHEUS" --version >/dev/null 2>&1; then
  echo "error: no working prometheus after 'apt-get install prometheus'" >&2
  return 1
fi
CI_DEPLOY_PROMTOOL="$(command -v promtool || true)"
export CI_DEPLOY_PROMETHEUS CI_DEPLOY_PROMTOOL
echo "prometheus: $CI_DEPLOY_PROMETHEUS ($("$CI_DEPLOY_PROMETHEUS" --version 2>&1 | awk 'NR == 1 {print $3}'))"
