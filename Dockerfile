# The ci-deploy image: the GitHub Action (action.yml: runs.using docker, image Dockerfile) and
# the GitLab job image. Python + this package + its locked dependencies, nothing else.
#
# Online:  docker build -t ci-deploy .
# Offline: pip wheel --no-deps -w wheels . && pip wheel -w wheels -r requirements.lock
#          docker build --network none -t ci-deploy .      (wheels/ is then the only index)
#
# GitHub's rules for Docker container actions: no USER (the runner needs root to write the
# mounted workspace and its command files), no WORKDIR (the runner mounts the workspace at
# /github/workspace and makes it the working directory), ENTRYPOINT in exec form.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# Kubernetes versions whose schemas stay in the image (render validates against 1.32 by
# default); the other versions kubernetes-validate bundles are ~100 MB nobody here uses.
ARG KUBE_SCHEMA_VERSIONS="1.32"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
COPY . /src/
RUN set -eu; \
    find_links=""; \
    if ls /src/wheels/*.whl >/dev/null 2>&1; then find_links="--no-index --find-links /src/wheels"; fi; \
    python3 -m venv /opt/ci-deploy; \
    /opt/ci-deploy/bin/pip install --no-compile $find_links --require-hashes -r /src/requirements.lock; \
    if ls /src/wheels/ci_deploy-*.whl >/dev/null 2>&1; then \
      /opt/ci-deploy/bin/pip install --no-compile --no-deps /src/wheels/ci_deploy-*.whl; \
    else \
      /opt/ci-deploy/bin/pip install --no-compile --no-deps /src; \
    fi; \
    site=$(/opt/ci-deploy/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
    # asyncio twin of the kubernetes client (68 MB): ci-deploy uses the synchronous client only.
    rm -rf "$site/kubernetes/aio" "$site/kubernetes/test" "$site"/pip "$site"/pip-*.dist-info \
      "$site"/setuptools "$site"/setuptools-*.dist-info "$site"/pkg_resources "$site"/_distutils_hack \
      "$site"/distutils-precedence.pth; \
    schemas="$site/kubernetes_validate/kubernetes-json-schema"; \
    for dir in "$schemas"/v*; do \
      keep=no; for v in $KUBE_SCHEMA_VERSIONS; do case "$(basename "$dir")" in "v$v".*) keep=yes;; esac; done; \
      [ "$keep" = yes ] || rm -rf "$dir"; \
    done; \
    find /opt/ci-deploy -name __pycache__ -prune -exec rm -rf {} +; \
    /opt/ci-deploy/bin/python -c 'import ci_deploy.cli, kubernetes.client, jinja2, requests'

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ci-deploy" \
      org.opencontainers.image.description="Deploy to Kubernetes with rolling, blue-green and canary strategies; roll back automatically." \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/ci-deploy/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8
COPY --from=build /opt/ci-deploy /opt/ci-deploy
ENTRYPOINT ["/opt/ci-deploy/bin/python", "-m", "ci_deploy.platforms.action"]
