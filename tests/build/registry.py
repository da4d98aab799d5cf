"""A real image registry (Debian's docker-registry, distribution 2.8) on a free loopback port.

Started by the tests that need it, with its own configuration (Debian's listens on every
interface), optionally behind htpasswd basic auth; stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


def registry_binary() -> str:
    found = os.environ.get("CI_DEPLOY_REGISTRY_BIN") or shutil.which("docker-registry")
    if not found:
        raise RuntimeError(
            "docker-registry is not installed: scripts/test installs it (apt docker-registry)"
        )
    return found


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT
    user: str | None = None
    password: str | None = None

    def manifest_digest(self, repository: str, reference: str) -> str:
        """What the registry itself answers for ``repository:reference``."""
        auth = (self.user, self.password) if self.user and self.password else None
        answer = requests.head(
            f"http://{self.host}/v2/{repository}/manifests/{reference}",
            headers={"Accept": MANIFEST_TYPES},
            auth=auth,
            timeout=10,
        )
        answer.raise_for_status()
        return answer.headers["Docker-Content-Digest"]

    def tags(self, repository: str) -> list[str]:
        auth = (self.user, self.password) if self.user and self.password else None
        answer = requests.get(
            f"http://{self.host}/v2/{repository}/tags/list", auth=auth, timeout=10
        )
        answer.raise_for_status()
        return sorted(answer.json().get("tags") or [])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_registry(
    folder: Path, *, user: str | None = None, password: str | None = None
) -> Iterator[Registry]:
    """Serve a registry for the block; with ``user``/``password`` it demands basic auth."""
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    auth = ""
    if user and password:
        import bcrypt

        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
        (folder / "htpasswd").write_text(f"{user}:{hashed}\n", encoding="utf-8")
        auth = f"auth:\n  htpasswd:\n    realm: ci-deploy-tests\n    path: {folder / 'htpasswd'}\n"
    config = folder / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"{auth}",
        encoding="utf-8",
    )
    log = (folder / "registry.log").open("w")
    process = subprocess.Popen(
        [registry_binary(), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"docker-registry did not start: {(folder / 'registry.log').read_text()}"
                    ) from None
                time.sleep(0.05)
        yield Registry(f"127.0.0.1:{port}", user, password)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
