"""Which template ``rollback`` restores, and what ``--to-revision`` accepts (pure functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ci_deploy.config import Config, load_config
from ci_deploy.errors import UserInputError
from ci_deploy.kube.state import StateRecord
from ci_deploy.rollout.rollback import (
    NothingToDo,
    RollbackChoice,
    choose_template,
    parse_target,
)
from ci_deploy.rollout.status import ON_DEMAND_STEP, RevisionRow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "web-app" / "ci-deploy.yml"
REPO = "registry.example.com/acme/web-app"
DIGEST = "sha256:" + "ab" * 32


def template(image: str, log_level: str = "info") -> dict[str, Any]:
    env = [{"name": "LOG_LEVEL", "value": log_level}]
    return {"spec": {"containers": [{"name": "app", "image": image, "env": env}]}}


def row(number: int, image: str, *, live: bool = False, log_level: str = "info") -> RevisionRow:
    return RevisionRow(number, image, f"web-{number}", None, live, template(image, log_level))


HISTORY = [row(1, "web:1"), row(2, "web:2"), row(3, "web:3", live=True)]
LIVE = template("web:3")


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


def chosen(decision: RollbackChoice | NothingToDo) -> RollbackChoice:
    assert isinstance(decision, RollbackChoice), decision
    return decision


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load_config(str(EXAMPLE))


def test_the_recorded_stable_template_wins_and_is_named_by_its_revision() -> None:
    choice = chosen(choose_template(record("Succeeded", "web:1"), LIVE, HISTORY, None))
    assert choice.template == template("web:1")
    assert choice.why == "the recorded stable one (revision 1)"


def test_a_chosen_revision_number_is_restored_exactly() -> None:
    choice = chosen(choose_template(record("Succeeded", "web:1"), LIVE, HISTORY, 2))
    assert (choice.image, choice.why, choice.template) == ("web:2", "revision 2", template("web:2"))


def test_a_chosen_image_takes_the_newest_revision_that_runs_it() -> None:
    history = [row(1, "web:1"), row(2, "web:1", log_level="debug"), row(3, "web:3", live=True)]
    choice = chosen(choose_template(None, LIVE, history, "web:1"))
    assert choice.why == "revision 2" and choice.template == template("web:1", "debug")


def test_unknown_revision_lists_the_revisions_with_their_images() -> None:
    with pytest.raises(UserInputError) as caught:
        choose_template(None, LIVE, HISTORY, 9)
    assert caught.value.message == (
        "there is no revision 9; the revisions are: 1 (web:1), 2 (web:2), 3 (web:3, live)"
    )


def test_unknown_image_lists_the_revisions_with_their_images() -> None:
    with pytest.raises(UserInputError, match=r"no revision runs web:9; .* 3 \(web:3, live\)"):
        choose_template(None, LIVE, HISTORY, "web:9")


def test_the_live_revision_is_nothing_to_do() -> None:
    decision = choose_template(None, LIVE, HISTORY, 3)
    assert decision == NothingToDo("revision 3 (web:3) is already live")


def test_without_a_record_the_revision_before_the_live_one_is_used() -> None:
    choice = chosen(choose_template(None, LIVE, HISTORY, None))
    assert choice.image == "web:2" and choice.why == "revision 2 (before the live one)"


def test_already_rolled_back_is_nothing_to_do() -> None:
    decision = choose_template(record("RolledBack", "web:2"), template("web:2"), HISTORY, None)
    assert isinstance(decision, NothingToDo)


def test_a_recorded_stable_template_that_is_live_is_nothing_to_do() -> None:
    decision = choose_template(record("Failed", "web:3"), LIVE, HISTORY, None)
    assert decision == NothingToDo("the recorded stable web:3 is already live")


def test_no_history_is_bad_input() -> None:
    with pytest.raises(UserInputError, match=r"no previous revision.*1 \(web:1, live\)"):
        choose_template(None, template("web:1"), [row(1, "web:1", live=True)], None)


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ("4", 4),
        (" 12 ", 12),
        (":1.0.0", f"{REPO}:1.0.0"),
        (f"@{DIGEST}", f"{REPO}@{DIGEST}"),
        (f"{REPO}:2.0.0", f"{REPO}:2.0.0"),
        ("other.example.com/team/app:3", "other.example.com/team/app:3"),
    ],
)
def test_to_revision_takes_a_number_or_an_image(cfg: Config, value: str, target: object) -> None:
    assert parse_target(value, cfg) == target


@pytest.mark.parametrize("value", ["", "Not An Image!", "-1", ":", "web:1 2"])
def test_to_revision_refuses_what_is_neither(cfg: Config, value: str) -> None:
    with pytest.raises(UserInputError, match="neither a revision number"):
        parse_target(value, cfg)


def test_no_to_revision_is_none(cfg: Config) -> None:
    assert parse_target(None, cfg) is None


def test_after_a_failed_rollback_on_demand_it_goes_back_to_where_that_started() -> None:
    # A rollback on demand from web:3 to web:1 failed; web:1 is live now (revision 4).
    failed = StateRecord(
        "web",
        "staging",
        "rolling",
        "Failed",
        "web:3",
        previous_revision="web:1",
        previous_template=template("web:1"),
        step=ON_DEMAND_STEP,
    )
    history = [row(2, "web:2"), row(3, "web:3"), row(4, "web:1", live=True)]
    choice = chosen(choose_template(failed, template("web:1"), history, None))
    assert choice.image == "web:3"
    assert choice.why == "revision 3 (live before the unfinished rollback)"
