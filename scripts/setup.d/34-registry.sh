# shellcheck shell=bash
# A local image registry (Debian docker-registry 2.8, ENVIRONMENT.md §3) for the build tests
# (tests/build), which start their own registry per test module on a free loopback port, with
# their own configuration (Debian's default one listens on every interface), and stop it by
# PID: nothing is started here. Exports CI_DEPLOY_REGISTRY_BIN.
apt_install docker-registry
CI_DEPLOY_REGISTRY_BIN="$(command -v docker-registry || true)"
if [ -z "$CI_DEPLOY_REGISTRY_BIN" ]; then
  echo "error: no docker-registry after 'apt-get install docker-registry'" >&2
  return 1
fi
# The package starts its own service on :5000 (all interfaces) where an init system runs it;
# stop it: the tests want nothing listening beyond what they start.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi
export CI_DEPLOY_REGISTRY_BIN
