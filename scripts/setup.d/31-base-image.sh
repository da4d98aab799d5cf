# shellcheck shell=bash
# Base image python:3.11-slim without a registry (ENVIRONMENT.md §2): no image can be pulled
# here, so build a look-alike from Debian bookworm with debootstrap and `docker import` it under
# the tag the Dockerfile names. The trimmed rootfs tarball is cached under $TOOLS, so a second
# machine setup (or a pruned docker) only re-imports it.
if ! docker image inspect python:3.11-slim >/dev/null 2>&1; then
  BASE_TAR="$TOOLS/base-rootfs/python-3.11-slim-bookworm.tar"
  if [ ! -s "$BASE_TAR" ]; then
    apt_install debootstrap
    mkdir -p "$TOOLS/base-rootfs"
    BASE_TMP="$(mktemp -d)"
    BASE_MIRROR="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    : "${BASE_MIRROR:=http://deb.debian.org/debian}"
    debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
      bookworm "$BASE_TMP/rootfs" "$BASE_MIRROR" >"$BASE_TMP/debootstrap.log" 2>&1 || {
      tail -n 30 "$BASE_TMP/debootstrap.log" >&2
      return 1
    }
    (
      cd "$BASE_TMP/rootfs"
      rm -rf var/cache/apt/archives/*.deb var/lib/apt/lists/* usr/share/doc/* usr/share/man/* \
        usr/share/locale/* usr/share/info/*
      # Trim what a runtime image never uses (tests, idle caches); keeps pip and venv working.
      rm -rf usr/lib/python3.11/test usr/lib/python3/dist-packages/pip/_vendor/rich/__pycache__
      find usr/lib/python3* -name __pycache__ -type d -prune -exec rm -rf {} +
      # Outgoing TLS here is signed by a CA only the host bundle has (ENVIRONMENT.md §2).
      cp /etc/ssl/certs/ca-certificates.crt etc/ssl/certs/ca-certificates.crt
      rm -f usr/lib/python3.11/EXTERNALLY-MANAGED
      ln -sf python3 usr/bin/python
    )
    tar -C "$BASE_TMP/rootfs" -cf "$BASE_TAR.partial" .
    mv "$BASE_TAR.partial" "$BASE_TAR"
    rm -rf "$BASE_TMP"
  fi
  docker import -c 'ENV LANG=C.UTF-8' -c 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    -c 'CMD ["python3"]' "$BASE_TAR" python:3.11-slim >/dev/null
fi
export CI_DEPLOY_BASE_IMAGE=python:3.11-slim
