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


ROUTED = """\
app: shop
image: {repository: registry.example.com/acme/shop}
manifests:
  port: 9000
  http_route:
    hostnames: [shop.example.com]
    parent_ref: {name: public, namespace: gateways}
environments:
  staging: {replicas: 2, create_namespace: true}
"""


def test_the_built_in_httproute_deploys_on_the_sandbox_from_its_crd(tmp_path: Path) -> None:
    config = tmp_path / "ci-deploy.yml"
    config.write_text(ROUTED)
    cfg = load_config(str(config))
    with running_sandbox(tmp_path / "sb") as sb:
        client = connect(str(sb.kubeconfig))
        try:
            engine = Engine(sb, tmp_path, config, client)
            result = engine.run(
                "deploy", "--env", "staging", "--image", ":1.0.0", "--context", "ci-deploy-sandbox"
            )
            assert result.returncode == 0, result.stderr
            (route,) = [
                o for o in render_manifests(cfg, "staging", ":1.0.0") if o["kind"] == "HTTPRoute"
            ]
            meta = route["metadata"]
            kind = client.resolve_kind(route["apiVersion"], "HTTPRoute")
            live: Any = client.get_or_none(kind.path(meta.get("namespace"), meta["name"]))
            assert live is not None and live["spec"]["hostnames"] == ["shop.example.com"]
            # the CRD's schema defaulted what the template leaves out, as a cluster does
            assert live["spec"]["parentRefs"][0]["kind"] == "Gateway"
        finally:
            client.close()
