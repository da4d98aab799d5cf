"""Registry credentials for ``docker push`` without a password on disk or in a log.

``docker login`` would store the password base64-encoded in ``~/.docker/config.json``. Instead
ci-deploy gives the Docker CLI a private configuration folder for the run, holding a copy of
the user's own ``config.json`` (their other logins keep working) plus a ``credHelpers`` entry
that sends the one registry to ci-deploy's credential helper. The helper is the Docker
credential-helper protocol's ``get``: it answers with the user and password read from the
environment variables named to it, so the secret exists only where it already was (the job's
environment), and the folder is deleted when the build ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ci_deploy.config.model import RegistryLoginConfig
from ci_deploy.errors import UserInputError

HELPER_NAME = "ci-deploy"
# What the helper reads: the registry it answers for and the *names* of the variables holding
# the user and the password (never the values).
HOST_VAR = "CI_DEPLOY_HELPER_REGISTRY"
USER_VAR = "CI_DEPLOY_HELPER_USERNAME_ENV"
PASSWORD_VAR = "CI_DEPLOY_HELPER_PASSWORD_ENV"


@dataclass(frozen=True)
class RegistryLogin:
    """Which variables hold the credentials of ``registry`` (host[:port])."""

    registry: str
    username_env: str
    password_env: str

    def describe(self) -> str:
        return f"{self.registry} as ${self.username_env} (password ${self.password_env})"


def registry_host(repository: str) -> str:
    """The registry part of an image repository (``docker.io`` when there is none)."""
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def login_for(
    repository: str, configured: RegistryLoginConfig | None, env: Mapping[str, str]
) -> RegistryLogin | None:
    """The credentials to push ``repository`` with, or None (the runner's own docker login).

    ``build.registry`` when configured (its variables must be set); else GitLab's
    ``CI_REGISTRY_USER``/``CI_REGISTRY_PASSWORD`` for ``$CI_REGISTRY``, or the GitHub token
    for ghcr.io.
    """
    host = registry_host(repository)
    if configured is not None:
        for key, name in (
            ("username_env", configured.username_env),
            ("password_env", configured.password_env),
        ):
            if not env.get(name):
                raise UserInputError(
                    f"build.registry.{key} names ${name}, which is not set",
                    hint=f"set {name} as a CI secret (or remove build.registry to use the "
                    "runner's own docker login)",
                )
        return RegistryLogin(host, configured.username_env, configured.password_env)
    ci_registry = env.get("CI_REGISTRY", "").strip()
    if ci_registry and ci_registry == host and env.get("CI_REGISTRY_PASSWORD"):
        return RegistryLogin(host, "CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD")
    if host == "ghcr.io" and env.get("GITHUB_TOKEN") and env.get("GITHUB_ACTOR"):
        return RegistryLogin(host, "GITHUB_ACTOR", "GITHUB_TOKEN")
    return None


@contextlib.contextmanager
def docker_config(login: RegistryLogin, env: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Environment additions that make the Docker CLI ask ci-deploy's helper for ``login``.

    A private folder (0700) with ``config.json`` (the user's, plus ``credHelpers``) and the
    helper executable; removed on exit.
    """
    folder = Path(tempfile.mkdtemp(prefix="ci-deploy-docker-"))
    try:
        config = _user_config(env)
        helpers = config.get("credHelpers")
        config["credHelpers"] = {
            **(helpers if isinstance(helpers, dict) else {}),
            login.registry: HELPER_NAME,
        }
        # A credsStore would be asked for other registries only; an auths entry for this one
        # would be used instead of the helper, so it is dropped from the copy.
        auths = config.get("auths")
        if isinstance(auths, dict):
            config["auths"] = {k: v for k, v in auths.items() if _host(k) != login.registry}
        _write_private(folder / "config.json", json.dumps(config, indent=2) + "\n")
        helper = folder / f"docker-credential-{HELPER_NAME}"
        _write_private(
            helper,
            f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m ci_deploy.build.credentials "$@"\n',
        )
        helper.chmod(stat.S_IRWXU)
        path = env.get("PATH", os.defpath)
        yield {
            "DOCKER_CONFIG": str(folder),
            "PATH": f"{folder}{os.pathsep}{path}",
            HOST_VAR: login.registry,
            USER_VAR: login.username_env,
            PASSWORD_VAR: login.password_env,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _user_config(env: Mapping[str, str]) -> dict[str, object]:
    """The user's Docker CLI configuration, or {} when there is none (or it is unreadable)."""
    folder = env.get("DOCKER_CONFIG") or str(Path(env.get("HOME", "~")).expanduser() / ".docker")
    try:
        data = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _host(server: str) -> str:
    """``https://index.docker.io/v1/`` → ``index.docker.io``; ``host:5000`` stays."""
    text = server.split("://", 1)[-1]
    return text.split("/", 1)[0]


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def helper_main(argv: list[str], env: Mapping[str, str]) -> int:
    """The credential-helper protocol (``get`` only): server on stdin, JSON on stdout."""
    action = argv[0] if argv else ""
    if action == "list":
        sys.stdout.write("{}\n")
        return 0
    if action != "get":
        sys.stderr.write(
            f"ci-deploy's credential helper stores nothing ({action or 'no action'})\n"
        )
        return 1
    server = sys.stdin.read().strip()
    registry = env.get(HOST_VAR, "")
    user = env.get(env.get(USER_VAR, ""), "")
    password = env.get(env.get(PASSWORD_VAR, ""), "")
    if not registry or _host(server) != registry or not password:
        sys.stdout.write("credentials not found in native keychain\n")
        return 1
    sys.stdout.write(json.dumps({"ServerURL": server, "Username": user, "Secret": password}))
    return 0


if __name__ == "__main__":  # run by the Docker CLI as docker-credential-ci-deploy
    sys.exit(helper_main(sys.argv[1:], os.environ))
