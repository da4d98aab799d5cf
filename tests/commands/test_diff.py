"""``ci-deploy diff``: the server-side dry-run diff of every object a deploy would apply and of
what it would prune, against the sandbox; the real ``kubectl diff --server-side`` finds the same
objects changed; Secret values never shown; ``plan`` summarizes it."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.commands.files_app import NAMESPACE, REPOSITORY, WEB, App, app_on_sandbox

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{key: {value}}}\n"
SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: {value}}}\n"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    with app_on_sandbox(tmp_path, monkeypatch) as made:
        yield made


def kubectl_diff_changed(app: App, tag: str) -> set[str]:
    """The objects the real kubectl finds changed by a server-side apply of the same render."""
    rendered = app.run("render", "manifests", "--env", "staging", "--image", f":{tag}")
    assert rendered.returncode == 0, rendered.stderr
    manifest = app.root / "rendered.yaml"
    manifest.write_text(rendered.stdout)
    done = subprocess.run(
        [os.environ.get("KUBECTL", "kubectl"), "--kubeconfig", str(app.sb.kubeconfig), "diff",
         "--server-side", "--field-manager", "ci-deploy", "--force-conflicts", "-f", str(manifest)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    # "diff -u -N /tmp/LIVE-1/v1.ConfigMap.web-staging.settings /tmp/MERGED-2/…"
    found = re.findall(
        r"^diff -u -N \S+/(?:[\w.]+\.)?v1\.(\w+)\.[\w-]+\.([\w-]+) ", done.stdout, re.M
    )
    return {f"{kind} {name}" for kind, name in found}


def test_diff_shows_what_a_deploy_changes_creates_and_prunes(app: App) -> None:
    app.files(web=WEB, a=CONFIGMAP.format(name="settings", value="one"),
              b=CONFIGMAP.format(name="old", value="x"))  # fmt: skip
    first = app.run("diff", "--env", "staging", "--image", ":1")
    out = first.stdout + first.stderr
    assert first.returncode == 1, out  # everything is to be created
    assert f"diff Deployment {NAMESPACE}/web-app (created)" in out
    assert "namespace web-staging does not exist yet" in out
    assert "web-app in staging: 3 created, 0 changed, 0 unchanged, 0 pruned" in out
    assert app.deploy("1").returncode == 0

    same = app.run("diff", "--env", "staging", "--image", ":1")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "0 created, 0 changed, 3 unchanged, 0 pruned" in same.stderr
    assert "diff " not in same.stdout

    app.files(web=WEB, a=CONFIGMAP.format(name="settings", value="two"),
              c=CONFIGMAP.format(name="new", value="y"))  # fmt: skip
    changed = app.run("diff", "--env", "staging", "--image", ":2")
    out = changed.stdout
    assert changed.returncode == 1, out + changed.stderr
    assert "1 created, 2 changed, 0 unchanged, 1 pruned" in changed.stderr
    assert f"--- live/ConfigMap {NAMESPACE}/settings" in out
    assert "-  key: one" in out and "+  key: two" in out
    assert f"-      - image: {REPOSITORY}:1" in out and f"+      - image: {REPOSITORY}:2" in out
    assert f"diff ConfigMap {NAMESPACE}/old (pruned)" in out
    assert "-  key: x" in out
    # The real kubectl, on the same objects, finds the same ones changed (it knows no prune).
    ours = set(re.findall(r"^diff (\w+) [\w-]+/([\w-]+) \((?:changed|created)\)", out, re.M))
    assert {f"{k} {n}" for k, n in ours} == kubectl_diff_changed(app, "2") == {
        "Deployment web-app", "ConfigMap settings", "ConfigMap new"
    }  # fmt: skip
    # Nothing was changed by any of it.
    live = app.client.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/settings")
    assert live["data"] == {"key": "one"}

    plan = app.run("plan", "--env", "staging", "--image", ":2")
    assert "objects: 1 created, 2 changed, 0 unchanged, 1 pruned" in plan.stdout, plan.stdout


def test_secret_values_never_appear_in_a_diff(app: App) -> None:
    app.files(web=WEB, s=SECRET.format(value="first-secret-value"))
    assert app.deploy("1").returncode == 0
    app.files(web=WEB, s=SECRET.format(value="second-secret-value"))
    done = app.run("diff", "--env", "staging", "--image", ":1")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert f"diff Secret {NAMESPACE}/db (changed)" in out
    assert "-  password: '*** (before)'" in out and "+  password: '*** (after)'" in out
    for secret in ("first-secret-value", "second-secret-value", "Zmlyc3Qtc2VjcmV0LXZhbHVl"):
        assert secret not in out


def test_diff_of_an_object_the_api_server_refuses_is_exit_4(app: App) -> None:
    app.files(web=WEB)
    assert app.deploy("1").returncode == 0
    app.sb.faults.set(refuse_path="/deployments/web-app", refuse_dry_run=True)
    refused = app.run("diff", "--env", "staging", "--image", ":2")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "the API server refused in a dry run" in refused.stderr
