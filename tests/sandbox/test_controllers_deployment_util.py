"""The Deployment controller's pure arithmetic (deployment_util), checked against upstream's."""

from __future__ import annotations

from typing import Any

import pytest

from kube_sandbox.controllers.deployment_util import fenceposts, proportional_sizes
from kube_sandbox.testing import deployment_manifest as deployment

Obj = dict[str, Any]


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        (10, "25%", "25%", (3, 2)),  # surge rounds up, unavailable rounds down
        (3, "25%", "25%", (1, 0)),
        (4, 0, 0, (0, 1)),  # never both zero: the controller uses maxUnavailable 1
        (10, 2, "10%", (2, 1)),
        (5, "100%", "0%", (5, 0)),
    ],
)
def test_fenceposts_round_like_kubernetes(
    replicas: int, surge: Any, unavailable: Any, expected: tuple[int, int]
) -> None:
    d = deployment("x", "img", replicas)
    d["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }
    assert fenceposts(d) == expected


def rs_of(name: str, replicas: int, created: str, available: int = 0) -> Obj:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "availableReplicas": available},
    }


@pytest.mark.parametrize(
    ("desired", "new", "old", "expected"),
    [
        # One active ReplicaSet takes the new size.
        (5, rs_of("new", 3, "2"), [rs_of("old", 0, "1")], {"new": 5}),
        # None active: the newest (the new one) does.
        (2, rs_of("new", 0, "2"), [rs_of("old", 0, "1")], {"new": 2}),
        # A saturated new ReplicaSet: old ones go to zero.
        (3, rs_of("new", 3, "2", 3), [rs_of("old", 1, "1")], {"old": 0}),
        # Mid-rollout 3 old + 2 new, 4 → 8 replicas: 10 allowed (surge 2), shared 3:2.
        (8, rs_of("new", 2, "2"), [rs_of("old", 3, "1")], {"old": 6, "new": 4}),
        # Scaling down 3 + 2 to 1 (+1 surge): 2 pods, remainder from the oldest largest.
        (1, rs_of("new", 2, "2"), [rs_of("old", 3, "1")], {"old": 1, "new": 1}),
    ],
)
def test_proportional_sizes_follow_the_deployment_controller(
    desired: int, new: Obj, old: list[Obj], expected: dict[str, int]
) -> None:
    d = deployment("web", "img", desired)
    assert proportional_sizes(d, new, old) == expected
