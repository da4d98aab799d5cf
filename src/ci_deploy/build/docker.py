"""The Docker CLI, as ``ci-deploy build`` drives it: engine check, builder choice, build, push.

ci-deploy runs the ``docker`` command rather than talking to the engine API itself: it is what
users have on their runners, it reads their registry logins and contexts (``DOCKER_HOST``,
``docker context``), and it picks BuildKit the way users expect. Every line the tools print is
relayed as one inert log line (a Dockerfile's ``RUN echo '::set-output …'`` stays text).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ci_deploy.errors import CiDeployError, NothingChanged

# How many lines of a failed tool's output the error quotes.
TAIL_LINES = 15

_PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: \d+")


class BuildFailed(CiDeployError):
    """``docker build`` or ``docker push`` failed: exit 1 (no cluster was touched)."""


@dataclass(frozen=True)
class Builder:
    """How images get built here: ``docker buildx build --load``, or ``docker build`` with
    BuildKit on (engines before 23 carry it) or off (the classic builder)."""

    name: str  # "buildx", "buildkit" or "classic"
    command: tuple[str, ...]
    env: Mapping[str, str]

    def describe(self) -> str:
        return {
            "buildx": "BuildKit (docker buildx)",
            "buildkit": "BuildKit (DOCKER_BUILDKIT=1)",
            "classic": "the classic builder (BuildKit needs the buildx plugin with this CLI)",
        }[self.name]


@dataclass
class Docker:
    """The ``docker`` executable and the environment every call runs with."""

    executable: str
    env: dict[str, str]
    log: Callable[[str], None]

    @classmethod
    def find(cls, env: Mapping[str, str], log: Callable[[str], None]) -> Docker:
        """The CLI on PATH; no CLI is exit 4 (nothing was built) with what to install."""
        found = shutil.which("docker", path=env.get("PATH"))
        if found is None:
            raise NothingChanged(
                "ci-deploy build needs the Docker CLI, and no 'docker' is on PATH",
                hint="install the Docker CLI (docker.io / docker-ce-cli) on the runner, or on "
                "GitLab run the job with a docker:dind service (docs/build-and-scan.md)",
            )
        return cls(found, dict(env), log)

    def capture(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS`` quietly; its output is returned, not logged."""
        return subprocess.run(
            [self.executable, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def engine_version(self) -> str:
        """The engine's version; an engine that does not answer is exit 4 with its words."""
        try:
            done = self.capture("version", "--format", "{{.Server.Version}}", timeout=30)
        except subprocess.TimeoutExpired as exc:
            raise NothingChanged("no Docker engine answered within 30s", hint=_ENGINE_HINT) from exc
        version = done.stdout.strip()
        if done.returncode != 0 or not version:
            said = _last_line(done.stderr) or "no answer"
            raise NothingChanged(f"no Docker engine is reachable: {said}", hint=_ENGINE_HINT)
        return version

    def client_version(self) -> str:
        done = self.capture("version", "--format", "{{.Client.Version}}")
        return done.stdout.strip()

    def builder(self) -> Builder:
        """buildx when the plugin answers; else BuildKit if the CLI still has it built in."""
        if self.env.get("DOCKER_BUILDKIT", "").strip() == "0":
            return Builder("classic", ("build",), {"DOCKER_BUILDKIT": "0"})
        if self.capture("buildx", "version").returncode == 0:
            return Builder("buildx", ("buildx", "build", "--load"), {})
        major = _major(self.client_version())
        if major is not None and major < 23:
            return Builder("buildkit", ("build",), {"DOCKER_BUILDKIT": "1"})
        return Builder("classic", ("build",), {"DOCKER_BUILDKIT": "0"})

    def stream(
        self, args: Sequence[str], *, what: str, timeout: float, env: Mapping[str, str]
    ) -> str:
        """Run ``docker ARGS``, relaying each output line; the output, or BuildFailed."""
        process = subprocess.Popen(
            [self.executable, *args],
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        started = time.monotonic()
        lines: list[str] = []
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                line = raw.rstrip("\n")
                lines.append(line)
                tail.append(line)
                self.log(f"  {line}")
            code = process.wait()
        finally:
            timer.cancel()
        if code != 0:
            late = time.monotonic() - started >= timeout
            why = f"stopped after {timeout:.0f}s" if late else f"exited {code}"
            quoted = " | ".join(t.strip() for t in tail if t.strip())
            raise BuildFailed(f"{what} {why}: {quoted}" if quoted else f"{what} {why}")
        return "\n".join(lines)

    def repo_digest(self, image: str, repository: str) -> str | None:
        """``repository@sha256:…`` the engine recorded for ``image`` after a push, if any."""
        done = self.capture("image", "inspect", "--format", "{{json .RepoDigests}}", image)
        if done.returncode != 0:
            return None
        try:
            digests = json.loads(done.stdout or "null") or []
        except json.JSONDecodeError:
            return None
        for entry in digests:
            if isinstance(entry, str) and entry.split("@", 1)[0] in _names(repository):
                return f"{repository}@{entry.split('@', 1)[1]}"
        return None


_ENGINE_HINT = (
    "start the Docker engine or point DOCKER_HOST at one: on GitHub-hosted runners it is "
    "there; in GitLab CI add a docker:dind service (docs/build-and-scan.md)"
)


def pushed_digest(output: str) -> str | None:
    """The ``sha256:…`` that ``docker push`` printed last (``digest: sha256:… size: N``)."""
    found = _PUSH_DIGEST.findall(output)
    return found[-1] if found else None


def _names(repository: str) -> set[str]:
    """How the engine may spell ``repository`` in RepoDigests (Docker Hub names shortened)."""
    names = {repository}
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/"):
        if repository.startswith(prefix):
            names.add(repository[len(prefix) :])
    return names


def _major(version: str) -> int | None:
    match = re.match(r"(\d+)\.", version)
    return int(match.group(1)) if match else None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
