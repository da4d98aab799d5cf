"""PodDisruptionBudgets, counted before pods are taken away by scaling.

An eviction is checked against the budgets by the API server; scaling a Deployment down is not.
Whoever retires pods by scaling (a blue-green rollout retiring the previous colour) counts for
itself: would every budget whose selector matches the pods being retired still hold with only
the pods that stay? Pure functions over the objects as the API returns them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ci_deploy.kube.client import Obj
from ci_deploy.kube.verify import pod_ready


def selector_matches(selector: Obj | None, labels: dict[str, str] | None) -> bool:
    """A metav1.LabelSelector against ``labels``; an empty selector matches every pod (as a
    policy/v1 PodDisruptionBudget's does)."""
    labels = labels or {}
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


@dataclass(frozen=True)
class Shortfall:
    """One budget that retiring the pods would break: which, its rule, what would be left."""

    budget: str
    rule: str  # "minAvailable: 3", "maxUnavailable: 0"
    needed: int  # healthy pods the budget asks for
    left: int  # healthy pods that would stay

    def __str__(self) -> str:
        return (
            f"PodDisruptionBudget {self.budget} ({self.rule}) needs {self.needed} healthy "
            f"pod{'s' if self.needed != 1 else ''}; {self.left} would be left"
        )


def scaled(value: int | str, expected: int) -> int:
    """An IntOrString of a budget: the number, or the percentage of ``expected`` rounded up
    (as the disruption controller rounds both minAvailable and maxUnavailable)."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * expected / 100)
    return int(value)


def shortfalls(
    budgets: Iterable[Obj], pods: Iterable[Obj], retiring: frozenset[str], expected_floor: int = 0
) -> list[Shortfall]:
    """The budgets that would not hold once the pods named ``retiring`` are gone.

    Only budgets whose selector matches a retiring pod count. What stays is every other pod of
    the selector that is not terminating; the healthy ones are those ready. ``expected_floor``
    is how many pods the controllers that stay want (the serving Deployment's replicas): a pod
    that is missing right now still counts as expected, not as fine.
    """
    pods = list(pods)
    found = []
    for budget in budgets:
        spec = budget.get("spec") or {}
        selector = spec.get("selector")
        matched = [p for p in pods if selector_matches(selector, p["metadata"].get("labels"))]
        if not any(p["metadata"]["name"] in retiring for p in matched):
            continue
        staying = [
            p
            for p in matched
            if p["metadata"]["name"] not in retiring and not p["metadata"].get("deletionTimestamp")
        ]
        healthy = sum(1 for p in staying if pod_ready(p))
        expected = max(len(staying), expected_floor)
        if spec.get("minAvailable") is not None:
            rule = f"minAvailable: {spec['minAvailable']}"
            needed = scaled(spec["minAvailable"], expected)
        elif spec.get("maxUnavailable") is not None:
            rule = f"maxUnavailable: {spec['maxUnavailable']}"
            needed = expected - scaled(spec["maxUnavailable"], expected)
        else:
            continue
        if healthy < needed:
            found.append(Shortfall(str(budget["metadata"]["name"]), rule, needed, healthy))
    return found
