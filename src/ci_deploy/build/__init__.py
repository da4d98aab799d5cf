"""``ci-deploy build``: build the application image, tag it with the commit, push it, and hand
the pushed digest (``repository@sha256:…``) to the steps after it.

:func:`plan_build` turns the configuration, the command line and the CI environment into a
:class:`BuildRequest` (pure but for reading the commit from git); :func:`run_build` executes it
with the Docker CLI (``build/docker.py``) and returns what was built and pushed. A deploy then
names the image by digest, never by a tag that can move.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ci_deploy.build.credentials import RegistryLogin, docker_config, login_for
from ci_deploy.build.docker import BuildFailed, Docker, pushed_digest
from ci_deploy.config.load import repository_root
from ci_deploy.config.model import BuildConfig, Config
from ci_deploy.errors import UserInputError

__all__ = ["BuildFailed", "BuildRequest", "BuildResult", "plan_build", "run_build"]

OCI = "org.opencontainers.image"


@dataclass(frozen=True)
class BuildRequest:
    """Everything one build does, decided before Docker is called."""

    repository: str
    context: Path
    dockerfile: Path
    tags: tuple[str, ...]  # the commit SHA first
    labels: dict[str, str]
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    network: str | None = None
    push: bool = False
    login: RegistryLogin | None = None
    timeout: float = 1800.0

    @property
    def references(self) -> tuple[str, ...]:
        """``repository:tag`` for every tag."""
        return tuple(f"{self.repository}:{tag}" for tag in self.tags)

    def docker_build_args(self, builder_command: tuple[str, ...]) -> list[str]:
        """The ``docker`` arguments of the build (the build context last)."""
        args = [*builder_command, "--file", str(self.dockerfile)]
        for reference in self.references:
            args += ["--tag", reference]
        for name, value in self.labels.items():
            args += ["--label", f"{name}={value}"]
        for name, value in self.build_args.items():
            args += ["--build-arg", f"{name}={value}"]
        if self.target:
            args += ["--target", self.target]
        if self.network:
            args += ["--network", self.network]
        return [*args, str(self.context)]


@dataclass(frozen=True)
class BuildResult:
    """What was built (and pushed): the outputs ``image`` and ``digest``."""

    image: str  # repository:<commit SHA>
    digest: str | None  # repository@sha256:… once pushed; None when not pushed
    image_id: str
    references: tuple[str, ...]
    builder: str
    build_seconds: float
    push_seconds: float

    def outputs(self) -> dict[str, str]:
        """The job outputs (platforms.BUILD_OUTPUT_KEYS)."""
        return {"image": self.image, "digest": self.digest or ""}


@dataclass(frozen=True)
class BuildOptions:
    """The command line of ``ci-deploy build`` (None: the configuration's value)."""

    context: str | None = None
    file: str | None = None
    repository: str | None = None
    tags: tuple[str, ...] = ()
    build_args: tuple[str, ...] = ()  # NAME=VALUE
    labels: tuple[str, ...] = ()  # NAME=VALUE
    target: str | None = None
    network: str | None = None
    push: bool = False
    timeout: float = 1800.0


def plan_build(
    cfg: Config,
    opts: BuildOptions,
    env: Mapping[str, str],
    *,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> BuildRequest:
    """The build ``opts`` asks for on ``cfg``; bad input (exit 2) before anything runs."""
    base = Path(cfg.source).parent
    settings = cfg.build or BuildConfig()
    context = _inside_repository(base / (opts.context or settings.context), cfg.source, "context")
    file_name = opts.file or settings.file or "Dockerfile"
    dockerfile = _inside_repository(context / file_name, cfg.source, "file")
    if not dockerfile.is_file():
        raise UserInputError(
            f"build: no Dockerfile at {dockerfile}",
            hint="pass --file, or set build.file (relative to the build context)",
        )
    revision = commit_sha(env, context)
    repository = opts.repository or cfg.image.repository
    tags = tuple(dict.fromkeys([revision, *settings.tags, *opts.tags]))
    labels = {
        f"{OCI}.revision": revision,
        f"{OCI}.created": _created(env, context, now),
        f"{OCI}.title": cfg.app,
    }
    source = source_url(env, context)
    if source:
        labels[f"{OCI}.source"] = source
    labels.update(settings.labels)
    labels.update(_pairs(opts.labels, "--label"))
    build_args = {**settings.build_args, **_pairs(opts.build_args, "--build-arg")}
    return BuildRequest(
        repository=repository,
        context=context,
        dockerfile=dockerfile,
        tags=tags,
        labels=labels,
        build_args=build_args,
        target=opts.target or settings.target,
        network=opts.network or settings.network,
        push=opts.push,
        login=login_for(repository, settings.registry, env) if opts.push else None,
        timeout=opts.timeout,
    )


def run_build(request: BuildRequest, docker: Docker) -> BuildResult:
    """Build, tag and (when asked) push; BuildFailed (exit 1) with the tool's last lines."""
    version = docker.engine_version()
    builder = docker.builder()
    docker.log(f"Docker engine {version}; building with {builder.describe()}")
    started = time.monotonic()
    with _iidfile() as iidfile:
        args = (*builder.command[:1], "--iidfile", str(iidfile), *builder.command[1:])
        docker.stream(
            request.docker_build_args(args),
            what="docker build",
            timeout=request.timeout,
            env=builder.env,
        )
        image_id = iidfile.read_text(encoding="utf-8").strip()
    build_seconds = time.monotonic() - started
    docker.log(f"built {image_id} as {', '.join(request.references)} in {build_seconds:.1f}s")
    digest, push_seconds = (None, 0.0)
    if request.push:
        digest, push_seconds = _push(request, docker)
    return BuildResult(
        image=request.references[0],
        digest=digest,
        image_id=image_id,
        references=request.references,
        builder=builder.name,
        build_seconds=build_seconds,
        push_seconds=push_seconds,
    )


def _push(request: BuildRequest, docker: Docker) -> tuple[str, float]:
    """Push every tag; the digest the registry answered for the commit's tag."""
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        extra: dict[str, str] = {}
        if request.login is not None:
            docker.log(f"registry login: {request.login.describe()}")
            extra = stack.enter_context(docker_config(request.login, docker.env))
        outputs = [
            docker.stream(
                ["push", ref], what=f"docker push {ref}", timeout=request.timeout, env=extra
            )
            for ref in request.references
        ]
    seconds = time.monotonic() - started
    reported = pushed_digest(outputs[0])
    recorded = docker.repo_digest(request.references[0], request.repository)
    if recorded is None and reported is None:
        raise BuildFailed(
            f"pushed {request.references[0]} but neither the push nor the engine named its digest"
        )
    digest = recorded or f"{request.repository}@{reported}"
    if reported is not None and not digest.endswith(f"@{reported}"):
        raise BuildFailed(
            f"the registry answered {reported} for {request.references[0]}, but the engine "
            f"recorded {digest}; not handing out a digest that may be wrong"
        )
    docker.log(f"pushed {digest} in {seconds:.1f}s")
    return digest, seconds


@contextlib.contextmanager
def _iidfile() -> Iterator[Path]:
    """Where ``docker build --iidfile`` writes the image ID (a private folder, removed)."""
    with tempfile.TemporaryDirectory(prefix="ci-deploy-build-") as folder:
        yield Path(folder) / "image-id"


def commit_sha(env: Mapping[str, str], context: Path) -> str:
    """The commit being built: ``$GITHUB_SHA`` / ``$CI_COMMIT_SHA``, else git's HEAD."""
    for name in ("GITHUB_SHA", "CI_COMMIT_SHA"):
        value = env.get(name, "").strip()
        if value:
            return _checked_sha(value, f"${name}")
    head = _git(context, "rev-parse", "HEAD")
    if head is None:
        raise UserInputError(
            f"build: no commit to tag the image with: {context} is not in a git checkout and "
            "neither GITHUB_SHA nor CI_COMMIT_SHA is set",
            hint="build from a git checkout (the image is tagged with the commit SHA)",
        )
    return _checked_sha(head, "git rev-parse HEAD")


def _checked_sha(value: str, where: str) -> str:
    if len(value) < 7 or len(value) > 64 or any(c not in "0123456789abcdef" for c in value):
        raise UserInputError(f"build: {where} is not a commit SHA: {value!r}")
    return value


def source_url(env: Mapping[str, str], context: Path) -> str | None:
    """The repository's web address for ``org.opencontainers.image.source`` (no credentials)."""
    if env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        return f"{server}/{env['GITHUB_REPOSITORY']}"
    if env.get("CI_PROJECT_URL"):
        return _without_credentials(env["CI_PROJECT_URL"])
    url = _git(context, "remote", "get-url", "origin") or ""
    if not url.startswith(("https://", "http://")):
        return None  # an scp-like git@host:path is not a web address
    return _without_credentials(url.removesuffix(".git"))


def _without_credentials(url: str) -> str:
    """``https://user:token@host/p`` → ``https://host/p``: a label is public."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _created(env: Mapping[str, str], context: Path, now: Callable[[], datetime]) -> str:
    """RFC 3339 UTC: ``$SOURCE_DATE_EPOCH``, else the commit's time, else the clock.

    The commit's time, not the clock's: a label that changes on every run makes the builder
    redo that step and gives the same commit a new digest each time it is rebuilt.
    """
    epoch = env.get("SOURCE_DATE_EPOCH", "").strip() or _commit_epoch(context)
    moment = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch.isdigit() else now()
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _commit_epoch(context: Path) -> str:
    """``git log -1 --format=%ct`` in ``context``, or "" outside a git checkout."""
    return _git(context, "log", "-1", "--format=%ct") or ""


def _git(context: Path, *args: str) -> str | None:
    """``git -C context ARGS``'s output, stripped; None when git fails or is missing."""
    try:
        done = subprocess.run(
            ["git", "-C", str(context), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _pairs(items: tuple[str, ...], option: str) -> dict[str, str]:
    """``NAME=VALUE`` items of a repeatable option; a malformed one is exit 2."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or any(c.isspace() for c in name):
            raise UserInputError(f"{option} {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


def _inside_repository(path: Path, config_file: str, key: str) -> Path:
    """``path`` resolved; outside the repository (symlinks followed) is exit 2."""
    root, what = repository_root(config_file)
    real = path.resolve()
    if not real.is_relative_to(root.resolve()):
        raise UserInputError(
            f"build.{key}: {path} is outside the repository ({root}, {what}); it resolves to "
            f"{real}",
            hint="the build context and Dockerfile must be inside the repository: a context "
            "outside it would send the runner's files to the Docker engine",
        )
    if key == "context" and not real.is_dir():
        raise UserInputError(f"build.context: {path} is not a folder")
    return real
