"""PodDisruptionBudgets counted before a scale-down: which budgets, what stays, the rounding."""

from __future__ import annotations

from typing import Any

import pytest

from ci_deploy.kube.disruption import scaled, selector_matches, shortfalls


def pod(name: str, color: str, *, ready: bool = True, going: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app": "web", "color": color}}
    if going:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status = "True" if ready else "False"
    return {"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": status}]}}


def budget(
    name: str = "web", selector: dict[str, Any] | None = None, **rule: Any
) -> dict[str, Any]:
    spec = {"selector": selector if selector is not None else {"matchLabels": {"app": "web"}}}
    return {"metadata": {"name": name}, "spec": {**spec, **rule}}


BLUE = [pod("b1", "blue"), pod("b2", "blue")]
RETIRING = frozenset({"b1", "b2"})


def test_a_budget_the_new_colour_alone_satisfies_allows_the_scale_down() -> None:
    green = [pod("g1", "green"), pod("g2", "green")]
    assert shortfalls([budget(minAvailable=2)], BLUE + green, RETIRING, 2) == []
    assert shortfalls([budget(maxUnavailable=0)], BLUE + green, RETIRING, 2) == []


def test_only_ready_pods_that_stay_count() -> None:
    green = [pod("g1", "green"), pod("g2", "green", ready=False), pod("g3", "green", going=True)]
    [short] = shortfalls([budget(minAvailable=2)], BLUE + green, RETIRING, 2)
    assert (short.budget, short.needed, short.left) == ("web", 2, 1)
    assert (
        str(short)
        == "PodDisruptionBudget web (minAvailable: 2) needs 2 healthy pods; 1 would be left"
    )


def test_a_missing_pod_counts_as_expected_for_max_unavailable() -> None:
    green = [pod("g1", "green"), pod("g2", "green")]  # the Deployment wants 3
    [short] = shortfalls([budget(maxUnavailable=0)], BLUE + green, RETIRING, 3)
    assert (short.rule, short.needed, short.left) == ("maxUnavailable: 0", 3, 2)


def test_budgets_that_select_none_of_the_retiring_pods_are_left_out() -> None:
    other = budget("db", {"matchLabels": {"app": "db"}}, minAvailable=5)
    assert shortfalls([other], BLUE, RETIRING, 0) == []


@pytest.mark.parametrize(("value", "expected", "count"), [(2, 4, 2), ("50%", 3, 2), ("100%", 3, 3)])
def test_percentages_round_up(value: int | str, expected: int, count: int) -> None:
    assert scaled(value, expected) == count


def test_label_selectors_with_expressions_and_the_empty_one() -> None:
    labels = {"app": "web", "color": "blue"}
    assert selector_matches({}, labels)  # policy/v1: an empty selector selects every pod
    assert selector_matches(
        {"matchExpressions": [{"key": "color", "operator": "In", "values": ["blue"]}]}, labels
    )
    assert not selector_matches(
        {"matchExpressions": [{"key": "color", "operator": "NotIn", "values": ["blue"]}]}, labels
    )
    assert selector_matches({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, labels)
    assert not selector_matches(
        {"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, labels
    )
