"""The deploy lock: a coordination.k8s.io/v1 Lease on the sandbox."""

from __future__ import annotations

import threading
import time

import pytest

from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import KubeClient
from ci_deploy.kube.lease import (
    Holder,
    LeaseLock,
    LockCancelled,
    LockTimeout,
    current_holder,
    run_url,
)
from kube_sandbox.testing import SandboxHandle


def lock(client: KubeClient, who: str, ttl: float = 30.0) -> LeaseLock:
    return LeaseLock(client, "default", "ci-deploy-web", Holder(who, f"job {who}"), ttl=ttl)


def test_acquire_renew_release(client: KubeClient) -> None:
    a = lock(client, "a", ttl=0.9)
    a.acquire(5)
    a.start_renewing()
    first = client.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/ci-deploy-web")
    assert first["spec"]["holderIdentity"] == "job a [a]"
    path = "/apis/coordination.k8s.io/v1/namespaces/default/leases/ci-deploy-web"
    deadline = time.monotonic() + 5
    renewed = first
    while renewed["spec"]["renewTime"] == first["spec"]["renewTime"]:  # bounded poll
        assert time.monotonic() < deadline, "not renewed within 5 s (interval: ttl / 3)"
        time.sleep(0.05)
        renewed = client.get(path)
    assert renewed["spec"]["renewTime"] > first["spec"]["renewTime"]
    assert not a.lost.is_set()
    a.release()
    released = client.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/ci-deploy-web")
    assert not released["spec"].get("holderIdentity")


def test_held_lock_times_out_naming_the_holder(client: KubeClient) -> None:
    a = lock(client, "a")
    a.acquire(5)
    started = time.monotonic()
    with pytest.raises(LockTimeout) as caught:
        lock(client, "b").acquire(1.0)
    assert time.monotonic() - started >= 1.0
    assert caught.value.holder == "job a [a]"
    assert "job a" in str(caught.value)


def test_waiter_gets_the_lock_as_soon_as_it_is_released(client: KubeClient) -> None:
    a = lock(client, "a")
    a.acquire(5)
    threading.Timer(0.5, a.release).start()
    started = time.monotonic()
    lock(client, "b").acquire(20)
    assert time.monotonic() - started < 5, "woken by the watch, not by the TTL"


def test_expired_lease_is_taken_over_and_the_old_holder_notices(client: KubeClient) -> None:
    a = lock(client, "a", ttl=1.0)
    a.acquire(5)  # never renewed: as if the job was killed
    b = lock(client, "b", ttl=1.0)
    started = time.monotonic()
    b.acquire(10)
    assert 0.5 <= time.monotonic() - started < 5
    lease = client.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/ci-deploy-web")
    assert lease["spec"]["holderIdentity"] == "job b [b]"
    assert lease["spec"]["leaseTransitions"] == 1
    a.renew()
    assert a.lost.is_set()


def test_waiting_can_be_cancelled(client: KubeClient) -> None:
    lock(client, "a").acquire(5)
    cancelled = CancelToken()
    threading.Timer(0.3, cancelled.cancel, args=("test",)).start()
    started = time.monotonic()
    with pytest.raises(LockCancelled):
        lock(client, "b").acquire(30, cancelled=cancelled)
    assert time.monotonic() - started < 5


def test_holder_names_the_pipeline_run() -> None:
    github = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "7",
    }
    assert run_url(github) == "https://github.com/o/r/actions/runs/7"
    assert (
        run_url({"CI_JOB_URL": "https://gitlab.com/o/r/-/jobs/9"})
        == "https://gitlab.com/o/r/-/jobs/9"
    )
    assert run_url({}) is None
    holder = current_holder({**github, "USER": "me"})
    assert holder.identity.startswith("https://github.com/o/r/actions/runs/7 [")
    assert "pid" in current_holder({"USER": "me"}).description


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_conflict_while_taking_a_free_lease_is_retried_not_waited_on(
    cluster: tuple[SandboxHandle, KubeClient], seed: int
) -> None:
    sb, client = cluster
    first = lock(client, "a")
    first.acquire(5)
    first.release()  # the Lease stays, free: the next taker PUTs it
    sb.faults.set(conflict_share=0.9, path_contains="/leases", seed=seed)
    started = time.monotonic()
    second = lock(client, "b")  # ttl 30 s: a wait "for the holder" would last 30 s
    second.acquire(20)
    took = time.monotonic() - started
    conflicts = sb.faults.describe()["counts"]
    sb.faults.reset()
    assert sum(conflicts.values()) >= 1, f"conflicts were injected: {conflicts}"
    assert took < 5, f"took {took:.1f}s: a free lease was waited on as if someone held it"
    path = "/apis/coordination.k8s.io/v1/namespaces/default/leases/ci-deploy-web"
    assert client.get(path)["spec"]["holderIdentity"] == "job b [b]"
    second.release()
