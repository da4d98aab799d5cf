"""Fault injection: off by default, seeded, counted, configurable over the admin endpoint."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from kube_sandbox.testing import SandboxHandle, running_sandbox

CM = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def sandbox(bare_sandbox: SandboxHandle) -> SandboxHandle:
    return bare_sandbox


def admin_get(sb: SandboxHandle) -> requests.Response:
    return requests.get(sb.url + "/_sandbox/faults", headers=sb.admin_headers, timeout=5)


def admin_post(sb: SandboxHandle, settings: dict[str, Any]) -> requests.Response:
    """POST fault settings as curl would send them (JSON, no Content-Type), with the token."""
    url = sb.url + "/_sandbox/faults"
    return requests.post(url, data=json.dumps(settings), headers=sb.admin_headers, timeout=5)


def _codes(sb: SandboxHandle, n: int) -> Counter[int]:
    session = requests.Session()
    return Counter(session.get(sb.url + CM, timeout=5).status_code for _ in range(n))


def test_no_faults_by_default(sandbox: SandboxHandle) -> None:
    assert _codes(sandbox, 50) == Counter({200: 50})
    assert admin_get(sandbox).json()["counts"] == {}


def test_error_shares_are_injected_and_counted(sandbox: SandboxHandle) -> None:
    sandbox.faults.set(error_500=0.2, error_503=0.2, error_429=0.2, retry_after=3, seed=7)
    codes = _codes(sandbox, 300)
    assert set(codes) == {200, 500, 503, 429}
    for code in (500, 503, 429):
        assert 30 <= codes[code] <= 90  # 20% of 300, with room for chance
    state = admin_get(sandbox).json()
    assert state["counts"] == {str(c): codes[c] for c in (500, 503, 429)}
    assert state["recent"][-1].split()[1:] == ["GET", CM]


def test_429_carries_retry_after_and_a_status_body(sandbox: SandboxHandle) -> None:
    sandbox.faults.set(error_429=1.0, retry_after=4)
    resp = requests.get(sandbox.url + CM, timeout=5)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "4"
    assert resp.json()["reason"] == "TooManyRequests" and resp.json()["kind"] == "Status"


def test_seed_makes_fault_sequences_reproducible(sandbox: SandboxHandle) -> None:
    def run() -> list[int]:
        sandbox.faults.set(error_503=0.5, seed=42)
        session = requests.Session()
        return [session.get(sandbox.url + CM, timeout=5).status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second and 503 in first and 200 in first


def test_discovery_and_admin_are_never_faulted_unless_asked(sandbox: SandboxHandle) -> None:
    sandbox.faults.set(error_500=1.0)
    assert requests.get(sandbox.url + "/version", timeout=5).status_code == 200
    assert requests.get(sandbox.url + "/apis/apps/v1", timeout=5).status_code == 200
    assert requests.get(sandbox.url + "/openapi/v3", timeout=5).status_code == 200
    assert admin_get(sandbox).status_code == 200
    assert requests.get(sandbox.url + CM, timeout=5).status_code == 500
    sandbox.faults.set(include_discovery=True)
    assert requests.get(sandbox.url + "/apis/apps/v1", timeout=5).status_code == 500


def test_conflicts_only_on_writes(sandbox: SandboxHandle) -> None:
    sandbox.faults.set(conflict_share=1.0)
    assert requests.get(sandbox.url + CM, timeout=5).status_code == 200
    resp = requests.post(sandbox.url + CM, json={"metadata": {"name": "x"}}, timeout=5)
    assert resp.status_code == 409 and resp.json()["reason"] == "Conflict"
    assert sandbox.store.list("/configmaps")[0] == []


def test_latency_is_added(sandbox: SandboxHandle) -> None:
    sandbox.faults.set(latency=0.2)
    started = time.monotonic()
    assert requests.get(sandbox.url + CM, timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.2
    assert admin_get(sandbox).json()["counts"]["latency"] == 1


def test_watch_cut_after_n_events(sandbox: SandboxHandle) -> None:
    for n in range(5):
        requests.post(sandbox.url + CM, json={"metadata": {"name": f"c{n}"}}, timeout=5)
    sandbox.faults.set(watch_max_events=2)
    resp = requests.get(
        sandbox.url + CM, params={"watch": "true", "timeoutSeconds": "10"}, stream=True, timeout=10
    )
    started = time.monotonic()
    lines = [line for line in resp.iter_lines() if line]
    assert len(lines) == 2 and time.monotonic() - started < 5
    assert sandbox.faults.describe()["counts"]["watch_cut"] == 1


def test_watch_cut_after_t_seconds(sandbox: SandboxHandle) -> None:
    sandbox.faults.set(watch_max_seconds=0.3)
    started = time.monotonic()
    resp = requests.get(
        sandbox.url + CM,
        params={"watch": "true", "resourceVersion": "1", "timeoutSeconds": "10"},
        stream=True,
        timeout=10,
    )
    assert [line for line in resp.iter_lines() if line] == []
    assert 0.25 <= time.monotonic() - started < 5


def test_admin_endpoint_configures_and_resets(sandbox: SandboxHandle) -> None:
    resp = admin_post(sandbox, {"error_503": 1.0, "seed": 1})
    assert resp.status_code == 200 and resp.json()["settings"]["error_503"] == 1.0
    assert requests.get(sandbox.url + CM, timeout=5).status_code == 503
    bad = admin_post(sandbox, {"error_999": 1})
    assert bad.status_code == 400 and "error_999" in bad.json()["message"]
    admin_post(sandbox, {"reset": True})
    assert requests.get(sandbox.url + CM, timeout=5).status_code == 200
    assert admin_get(sandbox).json()["counts"] == {}


def test_faults_logged(sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture) -> None:
    sandbox.faults.set(error_500=1.0)
    with caplog.at_level("WARNING", logger="kube_sandbox.faults"):
        requests.get(sandbox.url + CM, timeout=5)
    assert any("injected fault 500" in r.getMessage() for r in caplog.records)


def test_seed_argument_of_running_sandbox(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, seed=3, controllers=False) as sb:
        assert sb.faults.settings.seed == 3
        assert _codes(sb, 5) == Counter({200: 5})


@pytest.mark.parametrize(
    ("settings", "word"),
    [
        ({"error_500": "lots"}, "share"),
        ({"error_503": 1.5}, "share"),
        ({"watch_max_events": -1}, "whole number"),
        ({"latency": "slow"}, "seconds"),
        ({"include_discovery": "yes"}, "true or false"),
        ({"seed": 1.5}, "whole number or null"),
    ],
)
def test_admin_endpoint_rejects_bad_values(
    sandbox: SandboxHandle, settings: dict[str, object], word: str
) -> None:
    resp = admin_post(sandbox, settings)
    assert resp.status_code == 400 and word in resp.json()["message"]
    assert requests.get(sandbox.url + CM, timeout=5).status_code == 200  # nothing changed
