"""One deploy at a time (Lease), and SIGTERM/SIGINT mid-rollout."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.commands.conftest import read_outputs

IMAGE = "registry.example.com/acme/web-app"
NAMESPACE = "web-app-staging"
RUN = {
    "GITHUB_SERVER_URL": "https://github.example.com",
    "GITHUB_REPOSITORY": "acme/web-app",
    "GITHUB_RUN_ID": "4242",
}


def holder_of(engine: Any) -> str:
    lease = engine.lease()
    return str((lease or {}).get("spec", {}).get("holderIdentity") or "")


@contextmanager
def slow_deploy_holding_the_lock(
    engine: Any, holder_marker: str = "pid", **env: str
) -> Iterator[subprocess.Popen[str]]:
    """A deploy of ``:slow`` running in the background, once it holds the lock.

    On leaving the block it is waited for, and it must have succeeded.
    """
    first = engine.start("deploy", "--env", "staging", "--image", f"{IMAGE}:slow", **env)
    try:
        engine.wait_until(lambda: holder_marker in holder_of(engine))
        yield first
    finally:
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err


def test_second_deploy_waits_then_fails_naming_the_holder(engine_factory: Any) -> None:
    engine = engine_factory(pod_ready_delay=0.5)  # ":slow" becomes ready after 5 s
    assert engine.deploy("1.0.0").returncode == 0
    with slow_deploy_holding_the_lock(engine, "actions/runs/4242", **RUN):
        started = time.monotonic()
        second = engine.deploy("2.0.0", "--lock-timeout", "1s")
        waited = time.monotonic() - started
        assert second.returncode == 4, second.stderr  # nothing was changed
        assert waited >= 1.0, "it did wait for the lock"
        assert "https://github.example.com/acme/web-app/actions/runs/4242" in second.stderr
        assert "waiting up to" in second.stderr
    assert engine.record().revision == f"{IMAGE}:slow"


def test_a_waiting_deploy_proceeds_when_the_holder_finishes(engine_factory: Any) -> None:
    engine = engine_factory(pod_ready_delay=0.3)
    assert engine.deploy("1.0.0").returncode == 0
    with slow_deploy_holding_the_lock(engine):
        second = engine.deploy("2.0.0", "--lock-timeout", "60s")
        assert second.returncode == 0, second.stderr
    record = engine.record()
    assert record.revision == f"{IMAGE}:2.0.0"
    assert record.previous_revision == f"{IMAGE}:slow", "the second ran after the first"


def test_lease_of_a_killed_deploy_is_taken_over_after_its_ttl(engine_factory: Any) -> None:
    engine = engine_factory(pod_ready_delay=0.3)
    assert engine.deploy("1.0.0").returncode == 0
    first = engine.start(
        "deploy", "--env", "staging", "--image", f"{IMAGE}:neverready", "--lock-ttl", "2s"
    )
    engine.wait_until(lambda: "pid" in holder_of(engine))
    first.kill()  # SIGKILL: no cleanup, the lease stays until its TTL runs out
    first.communicate(timeout=10)
    started = time.monotonic()
    second = engine.deploy("2.0.0", "--lock-timeout", "30s")
    assert second.returncode == 0, second.stderr
    assert time.monotonic() - started < 20
    assert int(engine.lease()["spec"]["leaseTransitions"]) >= 2
    # The interrupted rollout's record said Progressing with the stable template: 1.0.0.
    assert engine.record().previous_revision == f"{IMAGE}:1.0.0"


def _wait_for_step(engine: Any, step: str) -> None:
    engine.wait_until(
        lambda: (r := engine.record()) is not None and step in r.step and r.phase == "Progressing"
    )


def test_sigterm_mid_rollout_rolls_back_and_releases_the_lock(engine_factory: Any) -> None:
    engine = engine_factory(pod_ready_delay=0.2)
    assert engine.deploy("1.0.0").returncode == 0
    proc = engine.start("deploy", "--env", "staging", "--image", f"{IMAGE}:neverready")
    _wait_for_step(engine, "wait-rollout")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "cancelled by SIGTERM" in err
    record = engine.record()
    assert record.phase == "RolledBack"
    assert engine.live_image() == f"{IMAGE}:1.0.0"
    assert holder_of(engine) == "", "lock released"
    assert read_outputs(proc.outputs)["phase"] == "RolledBack"
    assert out == ""
    # Nothing is left half-done: the next deploy starts cleanly.
    rerun = engine.deploy("1.0.0")
    assert rerun.returncode == 0, rerun.stderr


def test_sigint_with_no_rollback_on_cancel_keeps_the_rollout_and_records_aborted(
    engine_factory: Any,
) -> None:
    engine = engine_factory(pod_ready_delay=0.2)
    assert engine.deploy("1.0.0").returncode == 0
    proc = engine.start(
        "deploy", "--env", "staging", "--image", f"{IMAGE}:neverready", "--no-rollback-on-cancel"
    )
    _wait_for_step(engine, "wait-rollout")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert engine.record().phase == "Aborted"
    assert engine.live_image() == f"{IMAGE}:neverready"
    assert holder_of(engine) == ""
    # The next deploy knows the stable template from the record and can still roll back to it.
    again = engine.deploy("crashloop")
    assert again.returncode == 1
    assert engine.live_image() == f"{IMAGE}:1.0.0"


def test_a_deploy_that_loses_its_lock_stops_without_rolling_back(engine_factory: Any) -> None:
    engine = engine_factory(pod_ready_delay=0.2)
    assert engine.deploy("1.0.0").returncode == 0
    proc = engine.start(
        "deploy", "--env", "staging", "--image", f"{IMAGE}:neverready", "--lock-ttl", "1500ms"
    )
    _wait_for_step(engine, "wait-rollout")
    lease = engine.lease()
    lease["spec"]["holderIdentity"] = "someone else [x]"  # taken over, e.g. after a long pause
    engine.client.request(
        "PUT",
        f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/ci-deploy-web-app",
        body=lease,
    )
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert "lost the deploy lock" in err
    assert "without rolling back" in err
    assert engine.live_image() == f"{IMAGE}:neverready", "no fight with the new holder"
    assert holder_of(engine) == "someone else [x]", "the new holder's lease is left alone"


def test_sigterm_while_waiting_for_the_lock_changes_nothing(engine_factory: Any) -> None:
    engine = engine_factory(pod_ready_delay=0.5)
    assert engine.deploy("1.0.0").returncode == 0
    with slow_deploy_holding_the_lock(engine):
        waiting = engine.start("deploy", "--env", "staging", "--image", f"{IMAGE}:2.0.0")
        assert waiting.stderr is not None
        seen = []
        for line in waiting.stderr:  # ends when the process does, so this is bounded
            seen.append(line)
            if "waiting up to" in line:
                break
        assert "waiting up to" in seen[-1], "".join(seen)
        started = time.monotonic()
        waiting.send_signal(signal.SIGTERM)
        _, err = waiting.communicate(timeout=30)
        assert time.monotonic() - started < 5
        assert waiting.returncode == 4, err
        assert "cancelled while waiting for the deploy lock; nothing was changed" in err
    assert engine.record().revision == f"{IMAGE}:slow", "the waiting deploy changed nothing"
