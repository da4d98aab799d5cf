"""Which template ``rollback`` restores: recorded stable, a chosen revision, or the one before."""

from __future__ import annotations

from typing import Any

import pytest

from ci_deploy.errors import UserInputError
from ci_deploy.kube.state import StateRecord
from ci_deploy.rollout.rollback import choose_template


def template(image: str) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "app", "image": image}]}}


def deployment(image: str) -> dict[str, Any]:
    return {"metadata": {"name": "web"}, "spec": {"template": template(image)}}


HISTORY = [
    (1, "web:1", template("web:1")),
    (2, "web:2", template("web:2")),
    (3, "web:3", template("web:3")),
]


def record(phase: str, previous: str | None) -> StateRecord:
    return StateRecord(
        "web",
        "staging",
        "rolling",
        phase,  # type: ignore[arg-type]
        "web:3",
        previous_revision=previous,
        previous_template=template(previous) if previous else None,
    )


def test_the_recorded_stable_template_wins() -> None:
    choice = choose_template(record("Succeeded", "web:1"), deployment("web:3"), HISTORY, None)
    assert choice is not None and choice.template == template("web:1")


def test_a_chosen_revision_is_restored_exactly() -> None:
    choice = choose_template(record("Succeeded", "web:1"), deployment("web:3"), HISTORY, 2)
    assert choice is not None and choice.image == "web:2" and choice.why == "revision 2"


def test_unknown_revision_lists_the_known_ones() -> None:
    with pytest.raises(UserInputError, match="known revisions: 1, 2, 3"):
        choose_template(None, deployment("web:3"), HISTORY, 9)


def test_without_a_record_the_revision_before_the_live_one_is_used() -> None:
    choice = choose_template(None, deployment("web:3"), HISTORY, None)
    assert choice is not None and choice.image == "web:2"


def test_already_rolled_back_is_nothing_to_do() -> None:
    assert (
        choose_template(record("RolledBack", "web:2"), deployment("web:2"), HISTORY, None) is None
    )


def test_no_history_is_bad_input() -> None:
    with pytest.raises(UserInputError, match="no previous revision"):
        choose_template(None, deployment("web:1"), HISTORY[:1], None)
