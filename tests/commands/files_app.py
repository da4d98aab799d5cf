"""An app whose manifests are plain files (``manifests.files``), deployed with the CLI to a
sandbox: the pruning, several-workloads and hook tests write its files and read the cluster."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci_deploy.kube.client import KubeClient, connect
from kube_sandbox.testing import SandboxHandle, running_sandbox

REPOSITORY = "registry.example.com/acme/web-app"
NAMESPACE = "web-staging"
CONFIG = f"""\
app: web-app
image: {{repository: {REPOSITORY}}}
manifests:
  files: ["deploy/*.yaml"]
environments:
  staging: {{namespace: {NAMESPACE}, create_namespace: true}}
"""
WEB = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-app}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web-app}}}}
  template:
    metadata: {{labels: {{app: web-app}}}}
    spec:
      containers: [{{name: app, image: "{REPOSITORY}:1"}}]
"""


class App:
    """The repository at ``root`` (``ci-deploy.yml`` and ``deploy/``) and the sandbox."""

    def __init__(self, root: Path, sb: SandboxHandle) -> None:
        self.root, self.sb = root, sb
        self.client: KubeClient = connect(str(sb.kubeconfig))

    @classmethod
    def create(cls, root: Path, sb: SandboxHandle, config: str = CONFIG) -> App:
        (root / "deploy").mkdir(parents=True)
        (root / "ci-deploy.yml").write_text(config)
        return cls(root, sb)

    def files(self, **files: str) -> None:
        """``deploy/`` holds exactly these files (``name=text`` → ``deploy/name.yaml``)."""
        folder = self.root / "deploy"
        for old in folder.glob("*.yaml"):
            old.unlink()
        for name, text in files.items():
            (folder / f"{name}.yaml").write_text(text)

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """``ci-deploy ARGS`` in the repository, KUBECONFIG the sandbox's (``extra``: more
        environment, e.g. another KUBECONFIG)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GITHUB_"))}
        env["KUBECONFIG"] = str(self.sb.kubeconfig)
        env.update(extra)
        return subprocess.run(
            [sys.executable, "-m", "ci_deploy", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def deploy(self, tag: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("deploy", "--env", "staging", "--image", f":{tag}", *extra)

    def make_by_hand(self, part_of: str, name: str = "by-hand") -> None:
        """A ConfigMap someone made with kubectl and labelled as a member of the set
        ``part_of``: not ci-deploy's (no server-side apply of its field manager)."""
        self.client.request(
            "POST",
            f"/api/v1/namespaces/{NAMESPACE}/configmaps",
            body={
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "labels": {"applyset.kubernetes.io/part-of": part_of}},
            },
            query=[("fieldManager", "kubectl-create")],
        )

    def get(self, path: str) -> dict[str, Any]:
        """An object of the app's namespace: ``deployments/web-app`` (apps/v1 kinds), or a
        full API path."""
        if not path.startswith("/"):
            group = "/api/v1" if path.split("/")[0] in ("pods", "configmaps") else "/apis/apps/v1"
            path = f"{group}/namespaces/{NAMESPACE}/{path}"
        return self.client.get(path)


@contextlib.contextmanager
def app_on_sandbox(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config: str = CONFIG,
    app: type[App] = App,
    **sandbox: Any,
) -> Iterator[App]:
    """A fresh sandbox (``sandbox``: more arguments of ``running_sandbox``) and the app's
    repository (outside any CI's workspace)."""
    for name in ("GITHUB_WORKSPACE", "CI_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)
    with running_sandbox(tmp_path / "sandbox", pod_ready_delay=0.05, **sandbox) as sb:
        yield app.create(tmp_path / "repo", sb, config)
