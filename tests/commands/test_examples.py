"""Every example under examples/ deploys on the sandbox, every environment of it.

The test that would have caught the sandbox not serving PodDisruptionBudget: each rendered
object of each environment must be in the cluster afterwards. Environments whose strategy this
version cannot run yet (canary, blue-green) are deployed with ``--strategy rolling``; a
namespace the configuration does not let ci-deploy create is created first, as an operator
would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.commands.conftest import Engine

from ci_deploy.config import load_config
from ci_deploy.kube.client import connect
from ci_deploy.render import render_manifests
from kube_sandbox.testing import running_sandbox

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(REPO.glob("examples/*/ci-deploy.yml"))
CASES = [(config, env) for config in EXAMPLES for env in load_config(str(config)).environment_names]


@pytest.mark.parametrize(("config", "env"), CASES, ids=[f"{c.parent.name}-{e}" for c, e in CASES])
def test_every_example_environment_deploys_on_the_sandbox(
    tmp_path: Path, config: Path, env: str
) -> None:
    cfg = load_config(str(config))
    environment = cfg.environment(env)
    with running_sandbox(tmp_path / "sb") as sb:
        client = connect(str(sb.kubeconfig))
        try:
            engine = Engine(sb, tmp_path, config, client)
            if not environment.create_namespace:
                client.request(
                    "POST", "/api/v1/namespaces", body={"metadata": {"name": environment.namespace}}
                )
            extra: list[str] = ["--context", "ci-deploy-sandbox"]
            if environment.strategy != "rolling":
                extra += ["--strategy", "rolling"]
            result = engine.run("deploy", "--env", env, "--image", ":1.0.0", *extra, timeout=120)
            assert result.returncode == 0, result.stderr
            for obj in render_manifests(cfg, env, ":1.0.0"):
                kind = client.resolve_kind(obj["apiVersion"], obj["kind"])
                meta = obj["metadata"]
                live: Any = client.get_or_none(kind.path(meta.get("namespace"), meta["name"]))
                assert live is not None, f"{obj['kind']} {meta['name']} is not in the cluster"
        finally:
            client.close()
