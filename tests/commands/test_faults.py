"""Transient API failures (5xx, 429, conflicts, cut watches) do not break a deploy."""

from __future__ import annotations

from typing import Any

import pytest

IMAGE = "registry.example.com/acme/web-app"
SEEDS = [11, 22, 33, 44, 55, 66, 77, 88]


@pytest.mark.parametrize("seed", SEEDS)
def test_deploys_complete_correctly_with_20_percent_faults(engine_factory: Any, seed: int) -> None:
    engine = engine_factory(seed=seed)
    # One request in five fails: 500, 503, 429 (Retry-After: 1) or, for writes, 409 Conflict;
    # every watch stream is cut after 3 events.
    engine.sb.faults.set(
        error_500=0.08,
        error_503=0.07,
        error_429=0.01,
        conflict_share=0.05,
        watch_max_events=3,
        seed=seed,
    )
    first = engine.deploy("1.0.0")
    assert first.returncode == 0, first.stderr
    second = engine.deploy("2.0.0")
    assert second.returncode == 0, second.stderr
    broken = engine.deploy("crashloop")
    assert broken.returncode == 1, broken.stderr
    counts = engine.sb.faults.describe()["counts"]
    engine.sb.faults.reset()
    assert sum(counts.values()) >= 5, f"faults were injected: {counts}"
    record = engine.record()
    assert record.phase == "RolledBack"
    assert record.previous_revision == f"{IMAGE}:2.0.0"
    assert engine.live_image() == f"{IMAGE}:2.0.0"
    engine.wait_until(lambda: engine.serving_images() == {f"{IMAGE}:2.0.0"})
    lease = engine.lease()
    assert lease is not None and not lease["spec"].get("holderIdentity")
    assert "Traceback" not in first.stderr + second.stderr + broken.stderr
