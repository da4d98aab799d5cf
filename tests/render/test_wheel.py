"""The wheel carries the built-in templates and the HTTPRoute schema, and an installed wheel
finds and uses them (template_dir() → ci_deploy/templates/manifests inside the install)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "web-app" / "ci-deploy.yml"

PROBE = """
import json, sys
import ci_deploy
from ci_deploy.config import load_config
from ci_deploy.render import render_manifests, template_dir
objects = render_manifests(load_config(sys.argv[1]), "staging", "registry.example.com/a:1")
print(json.dumps({"package": ci_deploy.__file__, "templates": str(template_dir()),
                  "kinds": [o["kind"] for o in objects]}))
"""


def test_installed_wheel_renders_with_its_own_templates(tmp_path: Path) -> None:
    # Built by pip with build isolation (hatchling comes from PyPI), as a user's install would.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
    )
    (wheel,) = tmp_path.glob("ci_deploy-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("deployment", "service", "horizontalpodautoscaler", "ingress", "httproute"):
        assert f"ci_deploy/templates/manifests/{template}.yaml.j2" in names
    assert "ci_deploy/render/schemas/httproute-gateway.networking.k8s.io-v1.json" in names
    # the sandbox's package data: the Gateway API CRD it installs at start-up
    assert "kube_sandbox/data/crds/gateway.networking.k8s.io_httproutes.yaml" in names

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
         str(wheel)],
        check=True,
    )  # fmt: skip
    # PYTHONPATH puts the installed copy before the editable checkout; the venv still
    # provides the dependencies.
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(EXAMPLE)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["package"] == str(site / "ci_deploy" / "__init__.py")
    assert report["templates"] == str(site / "ci_deploy" / "templates" / "manifests")
    assert report["kinds"] == ["Service", "Deployment", "Ingress"]
