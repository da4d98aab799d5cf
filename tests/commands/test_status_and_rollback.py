"""``status`` (table and JSON) and ``rollback`` on demand, through the CLI on the sandbox.

Status must say what is live (image, revision, health, since when), what was last attempted and
how it ended, and which revisions ``rollback --to-revision`` takes. A rollback that exits 2 must
leave the cluster exactly as it was: every Namespace, Lease, Deployment and ReplicaSet with the
same resourceVersion.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ci_deploy.kube.client import KubeClient

IMAGE = "registry.example.com/acme/web-app"
NAMESPACE = "web-app-staging"
REVISION = "deployment.kubernetes.io/revision"
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "status.schema.json"
WHEN = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
INVENTORY = (
    "/api/v1/namespaces",
    "/apis/coordination.k8s.io/v1/leases",
    "/apis/apps/v1/deployments",
    "/apis/apps/v1/replicasets",
)


def status_json(engine: Any) -> dict[str, Any]:
    result = engine.run("status", "--env", "staging", "--json")
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    return doc


def status_text(engine: Any) -> str:
    result = engine.run("status", "--env", "staging")
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def deployment_revision(engine: Any) -> int:
    deployment = engine.deployment()
    assert deployment is not None
    return int(deployment["metadata"]["annotations"][REVISION])


def revision_rows(text: str) -> list[tuple[int, str, bool]]:
    """(number, image, live) from the revisions table of ``status``."""
    rows = re.findall(rf"^  (\d+) +(\S+) +{WHEN}( +live)?$", text, flags=re.MULTILINE)
    return [(int(n), image, bool(live)) for n, image, live in rows]


def inventory(client: KubeClient) -> dict[str, str]:
    """Every Namespace, Lease, Deployment and ReplicaSet, with its resourceVersion."""
    found: dict[str, str] = {}
    for path in INVENTORY:
        for item in client.get(path)["items"]:
            meta = item["metadata"]
            key = f"{path.rsplit('/', 1)[1]}/{meta.get('namespace', '')}/{meta['name']}"
            found[key] = meta["resourceVersion"]
    return found


def settled_inventory(client: KubeClient) -> dict[str, str]:
    """The inventory once the controllers are done with it (two equal reads in a row)."""
    before = inventory(client)
    for _ in range(50):
        time.sleep(0.2)
        now = inventory(client)
        if now == before:
            return now
        before = now
    raise AssertionError("the cluster did not settle")


def assert_refused_unchanged(engine: Any, *args: str) -> str:
    """Run ``rollback ARGS``: exit 2 and the cluster's inventory untouched; returns stderr."""
    before = settled_inventory(engine.client)
    result = engine.run("rollback", "--env", "staging", *args)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert inventory(engine.client) == before, result.stderr
    return str(result.stderr)


# -- status -----------------------------------------------------------------------------------
def test_status_before_any_deploy_says_nothing_is_deployed(engine: Any) -> None:
    text = status_text(engine)
    assert (
        f"live image    none: no Deployment web-app in namespace {NAMESPACE} "
        "(the namespace does not exist)\n" in text
    )
    assert "last attempt  none recorded" in text
    doc = status_json(engine)
    assert doc["live"]["image"] is None and doc["lastAttempt"] is None
    assert doc["revisions"] == [] and doc["state"] is None


def test_status_after_one_deploy_shows_live_last_attempt_and_revisions(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    text = status_text(engine)
    assert f"live image    {IMAGE}:1.0.0 (revision 1)\n" in text
    assert re.search(rf"^health        healthy: 2/2 ready, since {WHEN}$", text, re.MULTILINE)
    assert f"last attempt  deploy of {IMAGE}:1.0.0 (first deploy)\n" in text
    assert re.search(rf"^outcome       Succeeded at {WHEN}$", text, re.MULTILINE)
    assert "--to-revision NUMBER or IMAGE" in text
    assert revision_rows(text) == [(1, f"{IMAGE}:1.0.0", True)]
    doc = status_json(engine)
    live = doc["live"]
    assert live["image"] == f"{IMAGE}:1.0.0" and live["revision"] == 1
    assert live["ready"] == "2/2" and live["healthy"] is True and live["since"]
    attempt = doc["lastAttempt"]
    assert attempt["kind"] == "deploy" and attempt["from"] is None
    assert attempt["to"] == f"{IMAGE}:1.0.0" and attempt["phase"] == "Succeeded"
    assert [(r["number"], r["image"], r["live"]) for r in doc["revisions"]] == [
        (1, f"{IMAGE}:1.0.0", True)
    ]
    assert doc["state"]["phase"] == "Succeeded" and "previousTemplate" not in doc["state"]


def test_status_after_two_deploys_lists_both_revisions_with_images(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    assert engine.deploy("2.0.0").returncode == 0
    text = status_text(engine)
    assert f"live image    {IMAGE}:2.0.0 (revision 2)\n" in text
    assert f"last attempt  deploy of {IMAGE}:2.0.0 (replacing {IMAGE}:1.0.0)\n" in text
    assert revision_rows(text) == [(1, f"{IMAGE}:1.0.0", False), (2, f"{IMAGE}:2.0.0", True)]
    assert status_json(engine)["lastAttempt"]["from"] == f"{IMAGE}:1.0.0"


def test_status_after_a_rollback_names_what_is_live_and_what_was_rolled_back(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    assert engine.deploy("2.0.0").returncode == 0
    assert engine.run("rollback", "--env", "staging").returncode == 0
    live_number = deployment_revision(engine)
    assert live_number == 3  # the ReplicaSet of 1.0.0 came back as revision 3
    text = status_text(engine)
    assert f"live image    {IMAGE}:1.0.0 (revision 3)\n" in text
    assert f"last attempt  rollback on demand from {IMAGE}:2.0.0 to {IMAGE}:1.0.0\n" in text, text
    assert re.search(rf"^outcome       RolledBack at {WHEN}$", text, re.MULTILINE)
    assert "previous revision" not in text and "deployment revision" not in text
    assert revision_rows(text) == [(2, f"{IMAGE}:2.0.0", False), (3, f"{IMAGE}:1.0.0", True)]
    doc = status_json(engine)
    assert doc["live"]["image"] == f"{IMAGE}:1.0.0" and doc["live"]["revision"] == 3
    attempt = doc["lastAttempt"]
    assert (attempt["kind"], attempt["from"], attempt["to"]) == (
        "rollback",
        f"{IMAGE}:2.0.0",
        f"{IMAGE}:1.0.0",
    )


def test_rollback_records_the_deployments_new_revision(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    assert engine.deploy("2.0.0").returncode == 0
    assert engine.run("rollback", "--env", "staging").returncode == 0
    record = engine.record()
    assert record.deployment_revision == str(deployment_revision(engine)) == "3"


def test_status_after_an_automatic_rollback(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    assert engine.deploy("crashloop").returncode == 1
    text = status_text(engine)
    assert f"live image    {IMAGE}:1.0.0 (revision 3)\n" in text
    assert f"last attempt  deploy of {IMAGE}:crashloop (replacing {IMAGE}:1.0.0)\n" in text
    assert re.search(
        rf"^outcome       RolledBack at {WHEN}: rolled back automatically to "
        rf"{re.escape(IMAGE)}:1\.0\.0$",
        text,
        re.MULTILINE,
    )
    assert "CrashLoopBackOff" in text
    assert revision_rows(text) == [(2, f"{IMAGE}:crashloop", False), (3, f"{IMAGE}:1.0.0", True)]
    again = engine.run("rollback", "--env", "staging")
    assert again.returncode == 0 and "nothing to do" in again.stderr


def test_status_json_matches_its_documented_schema_after_each_kind_of_outcome(
    engine: Any,
) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    status_json(engine)  # nothing deployed
    assert engine.deploy("1.0.0").returncode == 0
    status_json(engine)
    assert engine.deploy("crashloop").returncode == 1
    assert status_json(engine)["lastAttempt"]["phase"] == "RolledBack"


def test_the_json_example_in_the_docs_matches_the_schema() -> None:
    doc = (SCHEMA.parent / "status.md").read_text(encoding="utf-8")
    examples = re.findall(r"```json\n(.*?)```", doc, re.S)
    assert examples
    for example in examples:
        jsonschema.validate(json.loads(example), json.loads(SCHEMA.read_text()))


# -- rollback ---------------------------------------------------------------------------------
def test_rollback_restores_the_recorded_stable_revision(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    assert engine.deploy("2.0.0").returncode == 0
    result = engine.run("rollback", "--env", "staging")
    assert result.returncode == 0, result.stderr
    assert engine.live_image() == f"{IMAGE}:1.0.0"
    record = engine.record()
    assert record.phase == "RolledBack"
    assert record.previous_revision == f"{IMAGE}:1.0.0"
    again = engine.run("rollback", "--env", "staging")
    assert again.returncode == 0
    assert "nothing to do" in again.stderr


def test_rollback_after_three_deploys_to_a_number_that_status_lists(engine: Any) -> None:
    for tag in ("1.0.0", "2.0.0", "3.0.0"):
        assert engine.deploy(tag).returncode == 0
    listed = revision_rows(status_text(engine))
    assert listed == [
        (1, f"{IMAGE}:1.0.0", False),
        (2, f"{IMAGE}:2.0.0", False),
        (3, f"{IMAGE}:3.0.0", True),
    ]
    result = engine.run("rollback", "--env", "staging", "--to-revision", "1")
    assert result.returncode == 0, result.stderr
    assert engine.live_image() == f"{IMAGE}:1.0.0"
    text = status_text(engine)
    assert f"live image    {IMAGE}:1.0.0 (revision 4)\n" in text
    assert f"last attempt  rollback on demand from {IMAGE}:3.0.0 to {IMAGE}:1.0.0\n" in text
    assert revision_rows(text) == [
        (2, f"{IMAGE}:2.0.0", False),
        (3, f"{IMAGE}:3.0.0", False),
        (4, f"{IMAGE}:1.0.0", True),
    ]


def test_rollback_to_an_image_reference_takes_the_revision_with_that_image(engine: Any) -> None:
    for tag in ("1.0.0", "2.0.0", "3.0.0"):
        assert engine.deploy(tag).returncode == 0
    short = engine.run("rollback", "--env", "staging", "--to-revision", ":2.0.0")
    assert short.returncode == 0, short.stderr
    assert engine.live_image() == f"{IMAGE}:2.0.0"
    full = engine.run("rollback", "--env", "staging", "--to-revision", f"{IMAGE}:1.0.0")
    assert full.returncode == 0, full.stderr
    assert engine.live_image() == f"{IMAGE}:1.0.0"
    assert status_json(engine)["live"]["revision"] == 5


def test_rollback_to_the_live_revision_does_nothing(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    assert engine.deploy("2.0.0").returncode == 0
    before = settled_inventory(engine.client)
    result = engine.run("rollback", "--env", "staging", "--to-revision", "2")
    assert result.returncode == 0, result.stderr
    assert "already live" in result.stderr and "nothing to do" in result.stderr
    assert inventory(engine.client) == before


def test_a_failed_rollback_exits_3_shows_unhealthy_and_can_itself_be_rolled_back(
    engine: Any,
) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    assert engine.deploy("crashloop").returncode == 1  # crashloop is revision 2
    failed = engine.run("rollback", "--env", "staging", "--to-revision", "2")
    assert failed.returncode == 3, failed.stderr
    assert f"rollback to {IMAGE}:crashloop failed" in failed.stderr
    text = status_text(engine)
    assert f"live image    {IMAGE}:crashloop (revision 4)\n" in text
    assert "health        not healthy: " in text and "CrashLoopBackOff" in text
    assert f"last attempt  rollback on demand from {IMAGE}:1.0.0 to {IMAGE}:crashloop\n" in text
    assert re.search(rf"^outcome       Failed at {WHEN}$", text, re.MULTILINE)
    assert status_json(engine)["live"]["healthy"] is False
    back = engine.run("rollback", "--env", "staging")
    assert back.returncode == 0, back.stderr
    assert engine.live_image() == f"{IMAGE}:1.0.0"


def test_to_revision_help_says_it_takes_a_status_number_or_an_image(engine: Any) -> None:
    result = engine.run("rollback", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "ci-deploy status" in text and "image" in text


# -- exit 2 changes nothing -------------------------------------------------------------------
def test_unknown_revision_number_is_refused_before_the_lock_listing_images(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    assert engine.deploy("2.0.0").returncode == 0
    stderr = assert_refused_unchanged(engine, "--to-revision", "99")
    assert "there is no revision 99" in stderr
    assert f"1 ({IMAGE}:1.0.0)" in stderr and f"2 ({IMAGE}:2.0.0, live)" in stderr


@pytest.mark.parametrize(
    ("target", "said"),
    [
        (":9.9.9", f"no revision runs {IMAGE}:9.9.9; the revisions are: 1 ({IMAGE}:1.0.0)"),
        ("other.example.com/app:1.0.0", "no revision runs other.example.com/app:1.0.0"),
        ("Not An Image!", "'Not An Image!' is neither a revision number from `ci-deploy status`"),
    ],
)
def test_unknown_or_invalid_image_is_refused_before_the_lock(
    engine: Any, target: str, said: str
) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    assert engine.deploy("2.0.0").returncode == 0
    stderr = assert_refused_unchanged(engine, "--to-revision", target)
    assert said in stderr


def test_rollback_after_one_deploy_is_refused_before_the_lock(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    stderr = assert_refused_unchanged(engine)
    assert "no previous revision" in stderr


def test_rollback_into_a_missing_namespace_creates_nothing(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    stderr = assert_refused_unchanged(engine, "--namespace", "nowhere", "--to-revision", "1")
    assert (
        "there is no deployment web-app in namespace nowhere (the namespace does not exist)"
        in stderr
    )
    assert engine.client.get_or_none("/api/v1/namespaces/nowhere") is None


def test_rollback_before_any_deploy_creates_nothing(engine: Any) -> None:
    stderr = assert_refused_unchanged(engine)
    assert f"there is no deployment web-app in namespace {NAMESPACE}" in stderr
    assert engine.lease() is None


def test_rollback_with_an_unknown_context_changes_nothing(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    assert engine.deploy("2.0.0").returncode == 0
    stderr = assert_refused_unchanged(engine, "--context", "no-such-context")
    assert "no-such-context" in stderr


def test_plan_rollback_prints_the_steps_that_rollback_then_runs(engine: Any) -> None:
    assert engine.deploy("1.0.0").returncode == 0
    assert engine.deploy("2.0.0").returncode == 0
    before = settled_inventory(engine.client)
    planned = engine.run("plan", "--env", "staging", "--rollback")
    assert planned.returncode == 0, planned.stderr
    assert settled_inventory(engine.client) == before  # printing a plan changes nothing
    steps = re.findall(r"^  \d\. .+$", planned.stdout, flags=re.MULTILINE)
    assert [s.split(". ", 1)[1].split(" ")[0] for s in steps] == [
        "record", "restore", "wait", "verify", "record",
    ]  # fmt: skip
    assert f"  live now: {IMAGE}:2.0.0\n  roll back to: {IMAGE}:1.0.0 (" in planned.stdout
    assert f"verify that deployment/web-app and its Ready pods run app={IMAGE}:1.0.0" in (
        planned.stdout
    )
    result = engine.run("rollback", "--env", "staging")
    assert result.returncode == 0, result.stderr
    for line in steps:  # the rollback prints and runs exactly that plan
        assert line in result.stderr
    assert "rollback step 4/5: verify" in result.stderr
    assert f"verified: deployment/web-app and its Ready pods run app={IMAGE}:1.0.0" in (
        result.stderr
    )
    record = engine.record()
    assert record is not None
    assert (record.phase, record.step) == ("RolledBack", "rollback-on-demand 5/5 record")
    assert "rolled back on demand" in status_text(engine)
    nothing = engine.run("plan", "--env", "staging", "--rollback")
    assert nothing.returncode == 0
    assert nothing.stdout.startswith("nothing to do: already rolled back to ")


def test_plan_to_revision_needs_rollback(engine: Any) -> None:
    result = engine.run("plan", "--env", "staging", "--to-revision", "1")
    assert result.returncode == 2
    assert "--to-revision goes with --rollback" in result.stderr
